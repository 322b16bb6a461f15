#!/usr/bin/env python3
"""The documentation check: every relative link in README.md, docs/ and scripts/ (*.md)
resolves to a file in the repository, and to a heading there when it names one; no link
leaves the repository; README.md stays a front door of at most 200 lines. Prints each
problem and exits 1; exits 0 when there is none.

Usage: doc_check.py [--root DIR]"""
import argparse
import glob
import os
import re
import sys

LINK = re.compile(r'\]\(([^)\s]+)\)')
HEADING = re.compile(r'^#+\s+(.*)$', re.M)
MAX_README_LINES = 200


def slug(heading):
    """The anchor a Markdown renderer gives a heading: lower case, punctuation dropped."""
    s = re.sub(r'[^\w\- ]', '', heading.strip().lower())
    return s.replace(' ', '-')


def check(root):
    root = os.path.abspath(root)
    files = ['README.md'] + sorted(glob.glob('docs/**/*.md', root_dir=root, recursive=True)) + \
        sorted(glob.glob('scripts/**/*.md', root_dir=root, recursive=True))
    problems = []
    for f in files:
        path = os.path.join(root, f)
        if not os.path.isfile(path):
            problems.append('%s: missing' % f)
            continue
        text = open(path, errors='replace').read()
        for n, line in enumerate(text.split('\n'), 1):
            for target in LINK.findall(line):
                where = '%s:%d: link %s' % (f, n, target)
                if re.match(r'^[a-z]+:', target):
                    problems.append(where + ' leaves the repository')
                    continue
                file_part, _, anchor = target.partition('#')
                dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
                if dest != root and not dest.startswith(root + os.sep):
                    problems.append(where + ' leaves the repository')
                elif not os.path.exists(dest):
                    problems.append(where + ' names no file')
                elif anchor and dest.endswith('.md'):
                    if anchor not in [slug(h) for h in HEADING.findall(open(dest, errors='replace').read())]:
                        problems.append(where + ' names no heading of ' + os.path.relpath(dest, root))
    readme = open(os.path.join(root, 'README.md')).read().count('\n')
    if readme > MAX_README_LINES:
        problems.append('README.md: %d lines, more than %d' % (readme, MAX_README_LINES))
    return problems, len(files)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--root', default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = ap.parse_args()
    problems, files = check(args.root)
    for p in problems:
        print(p)
    print('doc_check: %d files, %d problems' % (files, len(problems)))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
