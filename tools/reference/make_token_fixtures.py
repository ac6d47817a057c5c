#!/usr/bin/env python3
"""Write Tests/CoreTests/Fixtures/tokens.json with OpenAI's SimpleTokenizer.

Needs a venv with `pip install --no-deps openai-clip` plus `ftfy regex`. The tokenizer
module is loaded by path so that torch is not needed:

    tools/reference/.venv-tokenizer/bin/python tools/reference/make_token_fixtures.py
"""
import importlib.util
import json
import os
import random
import sys

import ftfy
import regex

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "Tests", "CoreTests", "Fixtures", "tokens.json")


def simple_tokenizer_module():
    for path in sys.path:
        candidate = os.path.join(path, "clip", "simple_tokenizer.py")
        if os.path.exists(candidate):
            spec = importlib.util.spec_from_file_location("simple_tokenizer", candidate)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    raise SystemExit("clip/simple_tokenizer.py not found: pip install --no-deps openai-clip")


HUNDRED_WORDS = " ".join(
    ("The quick brown fox jumps over the lazy dog while a photograph of clouds drifts "
     "across the evening sky near the old lighthouse on the rocky northern coast").split() * 5)[:10_000]

CASES = [
    # The spec's checks and plain captions.
    "A photo of clouds", "This is a sentence", "Donald Trump", "a photo of a dog.",
    "", "   ", "\t\n", "a", "A", "I", "!", "?!?!", "...", "hello world",
    # Case and contractions.
    "It's we'll I'd they're you've I'm she'd", "IT'S WE'LL I'D THEY'RE", "'S 'T 'RE 'VE 'M 'LL 'D",
    "don't won't can't", "rock'n'roll", "''s", "'ſ ſtart", "<|ſtartoftext|>",
    "MiXeD CaSe WoRdS", "ALLCAPS", "camelCaseIdentifier", "snake_case_name",
    # Special tokens typed as text.
    "<|startoftext|>", "<|endoftext|>", "a<|endoftext|>b", "<|STARTOFTEXT|> x", "<|endoftext",
    # Digits.
    "2024", "3.14", "-273.15°C", "1,000,000", "v1.2.3-beta", "٣٤٥ ١٢", "१२३", "½ ¼ ² ³", "Ⅻ ⅻ",
    # Whitespace.
    "  leading and trailing  ", "tabs\tand\nnewlines\r\nand\rreturns", "non\u00a0breaking\u00a0space",
    "em\u2003space and\u3000ideographic", "line\u2028separator\u2029paragraph", "zero\u200bwidth\u200djoiner",
    "\u00a0\u00a0nbsp edges\u00a0", "a\u0085b", "x\u000b\u000cy", "info\x1cseparators\x1f", "\ufeffBOM at start",
    # Accents and normalization.
    "café naïve résumé", "cafe\u0301 nai\u0308ve", "Ångström", "Å", "ﬁnancial ﬂow ﬀ ﬃ ﬄ ﬅ ﬆ", "Ĳsselmeer ǅ",
    "Straße", "İstanbul", "ΟΔΥΣΣΕΥΣ", "Σ", "ΑΣ.", "ΑΣ'Β", "Ὀδυσσεύς", "ŉ", "K Kelvin", "Ω ohm",
    # Fullwidth and halfwidth.
    "ＦＵＬＬＷＩＤＴＨ ｌｅｔｔｅｒｓ １２３", "ｶﾀｶﾅ ﾊﾝｶｸ", "（括弧）！",
    # Quotes.
    "“curly double” ‘curly single’ ‛reversed‟", "it’s ʼn ‚low‛", "«guillemets» „German“",
    # HTML entities.
    "&amp; &lt; &gt; &quot; &apos;", "&amp;amp;", "&amp;amp;amp;amp;", "fish &amp chips", "&copy 2024",
    "&notit; &notin; &not", "&#65;&#66;&#x43;&#X44;", "&#128512; &#x1F600;", "&#0; &#13; &#128; &#150;",
    "&#xD800; &#1114112; &#99999999999999999999;", "&#x110000;", "&#1; &#11; &#x7f; &#xFFFE;",
    "&EACUTE; &Eacute; &eacute;", "&AMP; &Amp;", "&unknown; &zz", "a &lt;b&gt; with <tags>",
    "&#65abc;", "&#x41;B", "&;", "&#;", "&#x;", "& alone", "&&amp;&", "&Aacute&Aacute;",
    "&nbsp;&nbsp;x", "&ensp;", "&NotNestedGreaterGreater;", "&bne;", "&fjlig;",
    "x < y &amp; z", "line one <tag>\nline two &amp;", "&amp;\n<b> &amp;", "&lt;b&gt; &amp;lt;",
    # Emoji.
    "😀", "I ❤ NY", "👍🏽 thumbs", "👨‍👩‍👧‍👦 family", "🏳️‍🌈", "🇺🇸🇯🇵 flags", "1️⃣ keycap", "☕️🍩",
    # Scripts.
    "日本語のテキスト", "中文分词测试", "한국어 텍스트", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया",
    "ภาษาไทย", "Ελληνικά", "Русский текст", "ქართული", "ᚠᚢᚦᚨᚱᚲ", "𝔉𝔯𝔞𝔨𝔱𝔲𝔯 𝐁𝐨𝐥𝐝", "Ⓐⓑⓒ",
    # Symbols and punctuation runs.
    "#hashtag @mention $100 50%", "C++ & C# -> => <=", "a—b–c", "…", "¿Qué? ¡Sí!", "©®™", "→←↑↓",
    "http://example.com/path?q=1&r=2", "user@example.com", "(((nested)))", "***", "~~~^^^",
    # Terminal escapes and controls.
    "\x1b[31mred\x1b[0m text", "\x1b[1;32mbold", "bell\x07char", "del\x7fchar", "soft\u00adhyphen",
    "C1 \x80\x93 controls \x9f", "\u206aformat\u206f", "\ufff9anchor\ufffb",
    # Long words and texts.
    "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "a" * 300, "ab" * 80, "x" * 33 + "&amp;" + "y" * 40, HUNDRED_WORDS,
]

MOJIBAKE = [
    "âœ” No problems", "The Mona Lisa doesnÃ¢â‚¬â„¢t have eyebrows.", "cafÃ©", "Ã¡ Ã© Ã\xa0 done",
    "Ã  la mode", "l’humanité", "ÐŸÑ€Ð¸Ð²ÐµÑ‚", "â€œquotedâ€\x9d", "sÃ¼ÃŸ", "CÃ³digo",
    "The Ã‚Â£ sign", "Ã¢â‚¬Å“doubleÃ¢â‚¬\x9d", "Ôóéáú", "Ã–sterreich", "×²",
]


def random_cases(count, seed):
    """Random strings over characters chosen to hit every branch of the clean-up."""
    alphabet = (list("abcXYZ019 ' &;#<>.-\t\n") + ["&amp;", "&#x41;", "&lt", "'S", "'ll"]
                + list("éÉßİıſΣσςΑ") + ["e\u0301", "\u0345", "\u00a0", "\u3000"]
                + list("日本ｶﾟＡ１😀👍🏽\u200d") + list("“”‘’ﬁ") + ["\x1b[3m", "\x85", "\x9c", "\r"]
                + list("٣١⑤Ⅻ½"))
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 25))) for _ in range(count)]


def mojibake_cases(count, seed):
    """Real mojibake: text encoded as UTF-8 and read back in a single-byte encoding,
    sometimes only in part, sometimes with spaces for 0xA0 or '?' for lost bytes."""
    words = ["café", "naïve", "Ñandú", "Straße", "Ærøskøbing", "“quoted”", "it’s", "—dash–", "€100",
             "日本", "😀", "Привет", "Ελλάδα", "Łódź", "İzmir", "½°C", "à la", "Œuvre", "plain", "text", "x"]
    encodings = ["windows-1252", "latin-1", "windows-1251", "windows-1250", "windows-1253", "mac_roman", "cp437"]
    rng = random.Random(seed)
    cases = []
    while len(cases) < count:
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 5)))
        encoding = rng.choice(encodings)
        garbled = text.encode("utf-8").decode(encoding, errors="replace")
        if rng.random() < 0.3:  # only part of the text garbled
            cut = rng.randint(0, len(text))
            garbled = text[:cut] + text[cut:].encode("utf-8").decode(encoding, errors="replace")
        if rng.random() < 0.2:
            garbled = garbled.replace("\xa0", " ")
        if rng.random() < 0.1:
            garbled = garbled.replace("\x81", "?").replace("\x8d", "?")
        if rng.random() < 0.2:  # twice garbled
            garbled = garbled.encode("utf-8").decode(encoding, errors="replace")
        cases.append(garbled)
    return cases


def main():
    st = simple_tokenizer_module()
    tokenizer = st.SimpleTokenizer()
    sot, eot = tokenizer.encoder["<|startoftext|>"], tokenizer.encoder["<|endoftext|>"]

    def model_input(text, truncate):
        tokens = [sot] + tokenizer.encode(text) + [eot]
        if len(tokens) > 77:
            if not truncate:
                return None
            tokens = tokens[:77]
            tokens[-1] = eot
        return tokens + [0] * (77 - len(tokens))

    def case(text):
        ids = tokenizer.encode(text)
        return {"text": text, "ids": ids, "decoded": tokenizer.decode(ids),
                "fits": model_input(text, False) is not None}

    rng = random.Random(7)
    decode_cases = []
    for _ in range(40):
        ids = [rng.randrange(49408) for _ in range(rng.randint(1, 6))]
        decode_cases.append({"ids": ids, "text": tokenizer.decode(ids)})
    # Byte tokens that split a UTF-8 sequence: errors='replace'.
    for ids in ([94 + 0x20], [0xC3 - 0x21 - 34 + 256], [188, 255, 188], [161, 163, 49407]):
        decode_cases.append({"ids": ids, "text": tokenizer.decode(ids)})

    fixture = {
        "source": f"openai-clip simple_tokenizer, ftfy {ftfy.__version__}, regex {regex.__version__}, "
                  f"Python {sys.version.split()[0]}",
        "cases": [case(t) for t in CASES],
        "random": [case(t) for t in random_cases(150, seed=2024)],
        "mojibake": [dict(case(t), fixed=ftfy.fix_text(t)) for t in MOJIBAKE + mojibake_cases(150, seed=11)],
        "truncated": [{"text": HUNDRED_WORDS, "input": model_input(HUNDRED_WORDS, True)},
                      {"text": "ab" * 80, "input": model_input("ab" * 80, True)}],
        "decode": decode_cases,
        "vocabulary": {str(i): tokenizer.decoder[i] for i in (0, 255, 256, 320, 511, 512, 1125, 49405, 49406, 49407)},
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=True, indent=None, separators=(",", ":"))
        f.write("\n")
    print("wrote", os.path.normpath(OUT), os.path.getsize(OUT), "bytes,",
          len(fixture["cases"]) + len(fixture["random"]) + len(fixture["mojibake"]), "strings")


if __name__ == "__main__":
    main()
