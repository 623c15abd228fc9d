"""Payload formats 3 and 4: the language travels, and each language is coded with its own model."""

import pytest

from telephrase.codec.message import Message, Phrase
from telephrase.codec.payload import TextCoding, decode_payload, encode_payload
from telephrase.errors import FrameError
from telephrase.speech.languages import CODES, base_code, index_of

from test_payload import load_text_model

# Sentences written for these tests (not from any corpus).
SENTENCES = {
    "es": " Hola, buenos días. El barco llegará al puerto mañana por la tarde si el viento lo permite.",
    "fr": " Bonjour à tous. Le bateau arrivera au port demain après-midi si le vent le permet.",
    "de": " Guten Tag zusammen. Das Schiff erreicht den Hafen morgen Nachmittag, wenn der Wind es erlaubt.",
}


@pytest.fixture(scope="module")
def models():
    return {code: load_text_model(f"{code}-words") for code in ("en", "es", "fr", "de")}


def test_language_table_is_frozen():
    """The wire index of a language never changes (appending is allowed)."""
    assert len(CODES) >= 101 and CODES[0] == "" and CODES[19] == "en" and CODES[20] == "es"
    assert (index_of("fr"), index_of("de"), index_of("yue")) == (26, 17, 100)
    assert index_of("es_ES") == index_of("es-419") == 20 and index_of("xx") == 0 and base_code("pt_BR") == "pt"


@pytest.mark.parametrize("vector", ["33 f6 31 d5 85 ff a6 73", "43 f6 31 d5 85 ff a6 73"])
def test_spanish_test_vectors(models, vector):
    """Format 4 (the second) codes Spanish as format 3 did."""
    message = Message((Phrase(" Hola, buenos días."),), "es")
    if vector.startswith("4"):
        data = encode_payload(message, TextCoding.LM, timing=False, words=models["es"], own_model=True)
        assert data.hex(" ") == vector
    decoded = decode_payload(bytes.fromhex(vector), models["en"], lambda language: models.get(language))
    assert (decoded.text, decoded.language, decoded.source_language) == ("Hola, buenos días.", "es", "")


@pytest.mark.parametrize("vector", ["3b f5 f9 60 0a b6 63 79 2e 2a 48 20 4a 80", "4b f5 f9 60 62 5f 6d 64 87 03 7e e0 26 e0"])
def test_translated_message_names_the_spoken_language(models, vector):
    message = Message((Phrase(" Good morning, the ship arrives tomorrow.", 0.2, 2.0),), "en", source_language="es")
    if vector.startswith("4"):
        data = encode_payload(message, TextCoding.LM, timing=True, words=models["en"], own_model=True)
        assert data.hex(" ") == vector
    decoded = decode_payload(bytes.fromhex(vector), models["en"], lambda language: models.get(language))
    assert (decoded.text, decoded.language, decoded.source_language) == (message.text, "en", "es")


@pytest.mark.parametrize("language", ["es", "fr", "de"])
@pytest.mark.parametrize("timing", [True, False])
def test_each_language_round_trips_with_its_own_model(models, language, timing):
    message = Message((Phrase(SENTENCES[language], 0.3, 5.0),), language)
    data = encode_payload(message, TextCoding.LM, timing, models[language], own_model=True)
    decoded = decode_payload(data, models["en"], lambda code: models.get(code))
    assert (decoded.phrases[0].text, decoded.language) == (message.phrases[0].text, language)


@pytest.mark.parametrize("language", ["es", "fr", "de"])
def test_own_model_saves_a_third_of_the_bits(models, language):
    """The same sentence coded with English's model (the escape path) and with its own."""
    message = Message((Phrase(SENTENCES[language]),), language)
    own = len(encode_payload(message, TextCoding.LM, False, models[language], own_model=True))
    english = len(encode_payload(message, TextCoding.LM, False, models["en"]))
    assert own < 0.67 * english


def test_a_language_without_its_own_model_uses_the_configured_one(models):
    message = Message((Phrase(" こんにちは、世界。Grüße 🚀"),), "ja")
    data = encode_payload(message, TextCoding.LM, True, models["en"])
    decoded = decode_payload(data, models["en"], lambda code: models.get(code))
    assert (decoded.text, decoded.language) == (message.text, "ja")


def test_a_receiver_without_the_language_model_says_which_is_missing(models):
    message = Message((Phrase(SENTENCES["fr"]),), "fr")
    data = encode_payload(message, TextCoding.LM, False, models["fr"], own_model=True)
    with pytest.raises(FrameError, match=r"French \(fr\) language model, which is not installed here"):
        decode_payload(data, models["en"], lambda code: None)
