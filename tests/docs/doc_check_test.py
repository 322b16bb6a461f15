#!/usr/bin/env python3
"""scripts/doc_check.py: the repository's documentation passes, and a tree with a link
that leaves the repository, one to a missing file, one to a missing heading and a README
over 200 lines fails, naming each."""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'scripts', 'doc_check.py')


def run(*args):
    p = subprocess.run([sys.executable, SCRIPT] + list(args), capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def expect(cond, what, out):
    if not cond:
        print('FAILED: %s\n--- output ---\n%s' % (what, out))
        sys.exit(1)


def write(root, path, text):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'w') as f:
        f.write(text)


def main():
    code, out = run('--root', ROOT)
    expect(code == 0, 'the repository passes', out)
    with tempfile.TemporaryDirectory() as root:
        write(root, 'README.md', '# x\n\n[design](docs/design.md#parts) [out](../shared/design.md)\n' +
              '[web](https://example.org) [gone](docs/none.md)\n')
        write(root, 'docs/design.md', '# Design\n\n## The parts\n\n[back](../README.md#x) [bad](#nowhere)\n')
        code, out = run('--root', root)
        expect(code == 1, 'a tree with bad links fails', out)
        for needle in ['README.md:3: link docs/design.md#parts names no heading',
                       'README.md:3: link ../shared/design.md leaves the repository',
                       'README.md:4: link https://example.org leaves the repository',
                       'README.md:4: link docs/none.md names no file',
                       'docs/design.md:5: link #nowhere names no heading']:
            expect(needle in out, 'reported: ' + needle, out)
        expect('docs/design.md:5: link ../README.md#x' not in out, 'a good link is not reported', out)
        write(root, 'README.md', '# x\n\n[design](docs/design.md#the-parts)\n' + 'line\n' * 200)
        write(root, 'docs/design.md', '# Design\n\n## The parts\n')
        code, out = run('--root', root)
        expect(code == 1 and 'README.md: 203 lines, more than 200' in out, 'a README over 200 lines fails', out)
    print('doc_check_test: all passed')


if __name__ == '__main__':
    main()
