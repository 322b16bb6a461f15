#!/usr/bin/env python3
"""Function lengths of the non-test C++ sources: prints the ten longest functions (lines
from the line of the opening brace to the line of the closing one, a function defined in a
class included) and exits 1 if any is longer than --max (default 80); 0 otherwise.

Usage: function_length.py [--root DIR] [--max N] [--top K]

A function is a brace block opened at namespace or class scope whose header (the text since
the previous ';', '{' or '}') has a parameter list and is not a namespace, class, struct,
union, enum, extern block or an initialiser (`= {`). Comments, strings, character and raw
string literals are skipped, so braces inside them do not count."""
import argparse
import os
import re
import subprocess
import sys

SOURCES = ('.cpp', '.h', '.cc', '.hpp')
CONTAINER = re.compile(r'^(template\s*<[^{]*>\s*)?(namespace|class|struct|union|enum|extern)\b')


def strip(text):
    """The text with comments and literals blanked (newlines kept, so lines still count)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith('//', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
            out.append(' ' * (j - i))
            i = j
        elif text.startswith('/*', i):
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r'[^\n]', ' ', text[i:j]))
            i = j
        elif c == 'R' and i + 1 < n and text[i + 1] == '"' and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == '_')):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = text.find(')' + m.group(1) + '"', i)
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append('R""' + re.sub(r'[^\n]', ' ', text[i + 3:j]))
            i = j
        elif c in '"\'':
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == '\\' else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r'[^\n]', ' ', text[i + 1:j - 1]) + c if j - i >= 2 else text[i:j])
            i = j
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def functions(path):
    """(name, first line, lines) of each function in the file."""
    text = strip(open(path, errors='replace').read())
    # Preprocessor lines (and their continuations) are not code the brace walk should see.
    text = re.sub(r'(?m)^[ \t]*#(?:[^\n]*\\\n)*[^\n]*', lambda m: re.sub(r'[^\n]', ' ', m.group(0)), text)
    found = []
    stack = []  # kinds of the open braces: 'scope', 'function' or 'other'
    header_start = 0
    line = 1
    opened = {}
    for i, c in enumerate(text):
        if c == '\n':
            line += 1
        elif c == '{':
            header = ' '.join(text[header_start:i].split())
            if any(k != 'scope' for k in stack):
                kind = 'other'
            elif CONTAINER.match(header) or header.endswith('=') or '(' not in header:
                kind = 'scope' if CONTAINER.match(header) else 'other'
            else:
                kind = 'function'
            stack.append(kind)
            if kind == 'function':
                name = re.findall(r'([~\w:]+)\s*\(', header)
                opened[len(stack)] = (name[0] if name else '?', line)
            header_start = i + 1
        elif c == '}':
            if stack:
                kind = stack.pop()
                if kind == 'function':
                    name, first = opened.pop(len(stack) + 1)
                    found.append((name, first, line - first + 1))
            header_start = i + 1
        elif c == ';':
            header_start = i + 1
    return found


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--root', default=os.path.dirname(here))
    ap.add_argument('--max', type=int, default=80)
    ap.add_argument('--top', type=int, default=10)
    args = ap.parse_args()
    files = subprocess.run(['git', 'ls-files'], cwd=args.root, capture_output=True, text=True, check=True).stdout.split()
    rows = []
    for f in files:
        if f.startswith('tests/') or not f.endswith(SOURCES):
            continue
        for name, first, n in functions(os.path.join(args.root, f)):
            rows.append((n, '%s:%d' % (f, first), name))
    rows.sort(key=lambda r: (-r[0], r[1]))
    for n, where, name in rows[:args.top]:
        print('%5d  %s  %s' % (n, where, name))
    over = [r for r in rows if r[0] > args.max]
    print('function_length: %d functions in non-test sources, %d over %d lines' % (len(rows), len(over), args.max))
    return 1 if over else 0


if __name__ == '__main__':
    sys.exit(main())
