#!/usr/bin/env python3
"""Generate Sources/Core/Tokenizer/TokenizerTables.swift from the Python reference.

OpenAI's SimpleTokenizer runs ftfy.fix_text, html.unescape, str.strip, str.lower and
`regex` character classes; this script records exactly what those do, code point by
code point, so the Swift tokenizer does not depend on the Unicode version of the
Swift runtime. Run once with the reference venv (ftfy, regex):

    tools/reference/.venv-tokenizer/bin/python tools/make_tokenizer_tables.py
"""
import html
import html.entities
import os
import re
import sys

import ftfy.bad_codecs  # noqa: F401  (registers the sloppy-* codecs)
import ftfy.badness as badness
import ftfy.chardata as chardata
import regex

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Sources", "Core", "Tokenizer",
                   "TokenizerTables.swift")

ALL = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


def ranges(codepoints):
    """Sorted code points -> 'lo-hi,' hex runs."""
    out, start, prev = [], None, None
    for c in codepoints:
        if start is None:
            start = prev = c
        elif c == prev + 1 or (prev == 0xD7FF and c == 0xE000):
            prev = c
        else:
            out.append((start, prev))
            start = prev = c
    if start is not None:
        out.append((start, prev))
    return ",".join(f"{a:X}-{b:X}" for a, b in out)


def matching(pattern, flags=0):
    return ranges(ord(m.group(0)) for m in regex.finditer(pattern, ALL, flags))


def hexes(s):
    return " ".join(f"{ord(ch):X}" for ch in s)


def string_map(items):
    """(ASCII key, value) pairs -> 'key=HEX HEX|' records."""
    return "|".join(f"{k}={hexes(v)}" for k, v in items)


def chunked_literal(name, text, doc):
    # Multi-line string literals of a few hundred kB compile quickly; array literals do not.
    lines = [text[i:i + 100] for i in range(0, len(text), 100)] or [""]
    body = "\n".join(line for line in lines)
    return f'    /// {doc}\n    static let {name} = """\n{body}\n"""\n'


def badness_alternatives():
    """BADNESS_RE (ftfy/badness.py) split into its alternatives, one atom per character."""
    C = badness.MOJIBAKE_CATEGORIES
    acc = C["lower_accented"] + C["upper_accented"]
    common_arabic = f"[{C['common']}{C['currency']}{C['bad']}{C['numeric']}{C['start_punctuation']}ŸŠ®°µ»]"
    return [
        [f"[{C['c1']}]"],
        [f"[{C['bad']}{acc}{C['box']}{C['start_punctuation']}{C['end_punctuation']}{C['currency']}{C['numeric']}{C['law']}]", f"[{C['bad']}]"],
        ["[a-zA-Z]", f"[{C['lower_common']}{C['upper_common']}]", f"[{C['bad']}]"],
        [f"[{C['bad']}]", f"[{acc}{C['box']}{C['start_punctuation']}{C['end_punctuation']}{C['currency']}{C['numeric']}{C['law']}]"],
        [f"[{C['lower_accented']}{C['lower_common']}{C['box']}{C['end_punctuation']}{C['currency']}{C['numeric']}]", f"[{C['upper_accented']}]"],
        [f"[{C['box']}{C['end_punctuation']}{C['currency']}{C['numeric']}]", f"[{C['lower_accented']}]"],
        [f"[{C['lower_accented']}{C['box']}{C['end_punctuation']}]", f"[{C['currency']}]"],
        [r"\s", f"[{C['upper_accented']}]", f"[{C['currency']}]"],
        [f"[{C['upper_accented']}{C['box']}]", f"[{C['numeric']}{C['law']}]"],
        [f"[{acc}{C['box']}{C['currency']}{C['end_punctuation']}]", f"[{C['start_punctuation']}]", f"[{C['numeric']}]"],
        [f"[{acc}{C['currency']}{C['numeric']}{C['box']}{C['law']}]", f"[{C['end_punctuation']}]", f"[{C['start_punctuation']}]"],
        [f"[{C['currency']}{C['numeric']}{C['box']}]", f"[{C['start_punctuation']}]"],
        ["[a-z]", f"[{C['upper_accented']}]", f"[{C['start_punctuation']}{C['currency']}]"],
        [f"[{C['box']}]", f"[{C['kaomoji']}]"],
        [f"[{acc}{C['currency']}{C['numeric']}{C['start_punctuation']}{C['end_punctuation']}{C['law']}]", f"[{C['box']}]"],
        [f"[{C['box']}]", f"[{C['end_punctuation']}]"],
        [f"[{acc}]", f"[{C['start_punctuation']}{C['end_punctuation']}]", r"\w"],
        ["[Œœ]", "[^A-Za-z]"],
        [f"[{C['upper_accented']}]", "°"],
        ["[ÂÃÎÐ]", f"[€œŠš¢£Ÿž\xa0\xad®©°·»{C['start_punctuation']}{C['end_punctuation']}–—´]"],
        ["×", "[²³]"],
        ["[ØÙ]", common_arabic, "[ØÙ]", common_arabic],
        ["à", "[²µ¹¼½¾]"],
        ["√", "[±∂†≠®™´≤≥¥µø]"],
        ["≈", "[°¢]"],
        ["‚", "Ä", "[ìîïòôúùû†°¢π]"],
        ["‚", "[âó]", "[àä°ê]"],
        ["в", "Ђ"],
        ["[ВГРС]", f"[{C['c1']}{C['bad']}{C['start_punctuation']}{C['end_punctuation']}{C['currency']}°µ]", "[ВГРС]"],
        ["Г", "ў", "В", "Ђ", "В", ".", "[A-Za-z ]"],
        ["Ã", "[\xa0¡]"],
        ["[a-z]", "?\\s", "[ÃÂ]", "[ ]"],
        ["^", "[ÃÂ]", "[ ]"],
        [f"[a-z.,?!{C['end_punctuation']}]", "Â", f"[ {C['start_punctuation']}{C['end_punctuation']}]"],
        ["β", "€", "[™\xa0Ά\xad®°]"],
        ["[ΒΓΞΟ]", f"[{C['c1']}{C['bad']}{C['start_punctuation']}{C['end_punctuation']}{C['currency']}°]", "[ΒΓΞΟ]"],
        ["ā", "€"],
    ]


def check_badness_split(alternatives, sets):
    """The split must find exactly what BADNESS_RE finds."""
    def matches_at(text, i, alt):
        for atom in alt:
            if atom == "^":
                if i != 0:
                    return False
                continue
            optional = atom.startswith("?")
            members = sets[atom[1:] if optional else atom]
            if i < len(text) and ord(text[i]) in members:
                i += 1
            elif not optional:
                return False
        return True

    def split_is_bad(text):
        return any(matches_at(text, i, alt) for i in range(len(text)) for alt in alternatives)

    pool = sorted(set("".join(sum(alternatives, [])) + "aAzZ .,!?\n\t°ÃÂ\xa0éЂВ€ā"))
    pool = [ch for ch in pool if ch not in "[]^\\"]
    rng = __import__("random").Random(5)
    for _ in range(200_000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(1, 4)))
        assert split_is_bad(text) == badness.is_bad(text), repr(text)


def mojibake_tables():
    """Tables for ftfy's fix_encoding: BADNESS_RE, UTF8_DETECTOR_RE and the single-byte codecs."""
    alternatives = badness_alternatives()
    atoms = sorted({a[1:] if a.startswith("?") else a for alt in alternatives for a in alt if a != "^"})
    sets = {atom: {ord(m.group(0)) for m in re.finditer(atom, ALL)} for atom in atoms}
    check_badness_split(alternatives, sets)
    index = {atom: n for n, atom in enumerate(atoms)}
    patterns = "|".join(" ".join("^" if a == "^" else ("?" + str(index[a[1:]]) if a.startswith("?") else str(index[a]))
                                 for a in alt) for alt in alternatives)
    out = [("badnessSets", ";".join(ranges(sorted(sets[a])) for a in atoms),
            "The character classes of ftfy's BADNESS_RE, ';'-separated range lists."),
           ("badnessPatterns", patterns,
            "BADNESS_RE's alternatives: indexes into badnessSets, '?' optional, '^' start of text.")]
    clues = chardata.UTF8_CLUES
    for key, name in [("utf8_first_of_2", "utf8FirstOf2"), ("utf8_first_of_3", "utf8FirstOf3"),
                      ("utf8_first_of_4", "utf8FirstOf4"), ("utf8_continuation", "utf8Continuation"),
                      ("utf8_continuation_strict", "utf8ContinuationStrict")]:
        out.append((name, ranges(sorted(ord(m.group(0)) for m in re.finditer(f"[{clues[key]}]", ALL))),
                    f"ftfy's UTF8_CLUES['{key}']."))
    encodings = []
    for encoding in chardata.CHARMAP_ENCODINGS:
        allowed = [ord(m.group(0)) for m in re.finditer(chardata.ENCODING_REGEXES[encoding].pattern[1:-2], ALL)]
        encoded = [(c, chr(c).encode(encoding)[0]) for c in allowed]
        assert all(len(chr(c).encode(encoding)) == 1 for c in allowed)
        encodings.append(encoding + ":" + ",".join(f"{c:X}={b:X}" for c, b in encoded if c >= 0x80 or c == 0x1A or c != b))
    out.append(("charmapEncodings", ";".join(encodings),
                "CHARMAP_ENCODINGS in ftfy's order: 'name:CP=BYTE,...' for every encodable code point "
                "except U+0000-U+007F, which encode as themselves (0x1A only where listed)."))
    return out


def main():
    tables = []
    # The split pattern's classes, under IGNORECASE as SimpleTokenizer compiles them.
    tables.append(("letters", matching(r"[\p{L}]", regex.IGNORECASE),
                   "Code points matched by `[\\p{L}]` (regex module, IGNORECASE)."))
    tables.append(("numbers", matching(r"[\p{N}]", regex.IGNORECASE),
                   "Code points matched by `[\\p{N}]` (regex module, IGNORECASE)."))
    tables.append(("others", matching(r"[^\s\p{L}\p{N}]", regex.IGNORECASE),
                   "Code points matched by `[^\\s\\p{L}\\p{N}]` (regex module, IGNORECASE)."))
    tables.append(("regexSpaces", matching(r"\s"),
                   "Code points matched by `\\s` (regex module), used by whitespace_clean."))
    tables.append(("pythonSpaces", ranges(ord(ch) for ch in ALL if ch.isspace()),
                   "Code points for which Python's str.isspace() holds (str.strip)."))
    tables.append(("decimalDigits", ranges(ord(m.group(0)) for m in re.finditer(r"\d", ALL)),
                   "Code points matched by `\\d` (Python re), used by ftfy's terminal-escape pattern."))
    # Characters that fold onto a letter of the literal parts of the pattern.
    caseless = []
    for letter in sorted(set("startofextndvml")):
        variants = [m.group(0) for m in regex.finditer(regex.escape(letter), ALL, regex.IGNORECASE)]
        for v in variants:
            if v != letter:
                caseless.append((v, letter))
    tables.append(("caselessLiterals", "|".join(f"{ord(v):X}={ord(l):X}" for v, l in caseless),
                   "Code points that the pattern's IGNORECASE literals accept for an ASCII letter."))
    # str.lower, except U+03A3 whose lowercase depends on context (Final_Sigma).
    lower = [(ch, ch.lower()) for ch in ALL if ch.lower() != ch and ch != "\u03a3"]
    tables.append(("lowercase", "|".join(f"{ord(c):X}={hexes(l)}" for c, l in lower),
                   "Python's str.lower for every code point it changes, except U+03A3."))
    # Final_Sigma context as CPython evaluates it: which code points are skipped
    # (case-ignorable) and which count as cased.
    ignorable, cased = [], []
    for ch in ALL:
        if ("" + ch + "\u03a3").lower()[-1] == "\u03c2":
            cased.append(ord(ch))            # not ignorable, cased
        elif ("A\u03a3" + ch + "B").lower()[1] == "\u03c2":
            pass                             # not ignorable, not cased
        else:
            ignorable.append(ord(ch))
    tables.append(("caseIgnorable", ranges(ignorable), "Case-ignorable code points (CPython's Final_Sigma rule)."))
    tables.append(("cased", ranges(cased), "Cased code points that are not case-ignorable (CPython)."))
    # html.unescape.
    tables.append(("html5Entities", string_map(sorted(html.entities.html5.items())),
                   "html.entities.html5: entity name (with or without ';') -> characters."))
    tables.append(("invalidCharrefs", "|".join(f"{k:X}={hexes(v)}" for k, v in sorted(html._invalid_charrefs.items())),
                   "html._invalid_charrefs: numeric references HTML5 remaps."))
    tables.append(("invalidCodepoints", ranges(sorted(html._invalid_codepoints)),
                   "html._invalid_codepoints: numeric references that unescape to nothing."))
    # ftfy's own steps.
    tables.append(("ftfyEntities", string_map(sorted(chardata.HTML_ENTITIES.items())),
                   "ftfy's HTML_ENTITIES: '&name;' (and upper-case variants) -> characters."))
    tables.append(("ftfyWidth", "|".join(f"{k:X}={hexes(v)}" for k, v in sorted(chardata.WIDTH_MAP.items())),
                   "ftfy's WIDTH_MAP (fix_character_width)."))
    tables.append(("ftfyLigatures", "|".join(f"{k:X}={hexes(v)}" for k, v in sorted(chardata.LIGATURES.items())),
                   "ftfy's LIGATURES (fix_latin_ligatures)."))
    tables.append(("ftfyControls", ranges(sorted(chardata.CONTROL_CHARS)),
                   "ftfy's CONTROL_CHARS (remove_control_chars)."))
    tables.append(("windows1252C1", "|".join(f"{b:X}={hexes(bytes([b]).decode('sloppy-windows-1252'))}" for b in range(0x80, 0xA0)),
                   "ftfy's sloppy-windows-1252 for bytes 0x80-0x9F (fix_c1_controls)."))

    tables += mojibake_tables()

    src = ["// Generated by tools/make_tokenizer_tables.py from Python "
           f"{sys.version.split()[0]}, regex {regex.__version__}, ftfy {__import__('ftfy').__version__}. Do not edit.",
           "// Formats: ranges 'LO-HI,...' (hex); maps 'KEY=HEX HEX|...'.", "",
           "enum TokenizerTables {"]
    for name, text, doc in tables:
        src.append(chunked_literal(name, text, doc))
    src.append("}")
    with open(OUT, "w") as f:
        f.write("\n".join(src) + "\n")
    print("wrote", OUT, sum(len(t[1]) for t in tables), "chars")


if __name__ == "__main__":
    main()
