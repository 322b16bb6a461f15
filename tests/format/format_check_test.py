#!/usr/bin/env python3
"""scripts/format.sh --check: the repository's C++ sources follow .clang-format under the
pinned clang-format-14, and a tree with a misformatted file fails naming it (and is not
rewritten by the check)."""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(root, *args):
    p = subprocess.run(['bash', os.path.join(root, 'scripts', 'format.sh')] + list(args), capture_output=True,
                       text=True, timeout=300)
    return p.returncode, p.stdout + p.stderr


def expect(cond, what, out):
    if not cond:
        print('FAILED: %s\n--- output ---\n%s' % (what, out))
        sys.exit(1)


def main():
    code, out = run(ROOT, '--check')
    print(out.strip())
    expect(code == 0, 'the repository follows .clang-format', out)
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, 'scripts'))
        shutil.copy(os.path.join(ROOT, 'scripts', 'format.sh'), os.path.join(root, 'scripts'))
        shutil.copy(os.path.join(ROOT, '.clang-format'), root)
        good = 'int Add(int a, int b) { return a + b; }\n'
        bad = 'int  Sub( int a,int b ){return a-b;}\n'
        for name, text in [('good.cpp', good), ('bad.h', bad)]:
            with open(os.path.join(root, name), 'w') as f:
                f.write(text)
        subprocess.run(['git', 'init', '-q'], cwd=root, check=True)
        subprocess.run(['git', 'add', '.'], cwd=root, check=True)
        code, out = run(root, '--check')
        expect(code == 1, 'a misformatted file fails the check', out)
        expect('bad.h differs' in out and 'good.cpp' not in out, 'only the misformatted file is named', out)
        with open(os.path.join(root, 'bad.h')) as f:
            expect(f.read() == bad, 'the check rewrites nothing', out)
        code, out = run(root)
        expect(code == 0, 'formatting succeeds', out)
        code, out = run(root, '--check')
        expect(code == 0, 'the formatted tree passes', out)
        code, out = run(root, '--fix')
        expect(code == 2, 'an unknown argument is refused with exit 2', out)
    print('format_check_test: passed')


if __name__ == '__main__':
    main()
