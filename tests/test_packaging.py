"""The release: `python -m build` makes a wheel and an sdist that carry LICENSE and pass `twine check`, and the wheel's
console script runs from a fresh virtualenv; one version everywhere (settings.ini, the package, CITATION.cff,
CHANGELOG).

The build runs on a copy of the checkout's files (nothing written into the tree) with `--no-isolation` (the dev extras'
setuptools, no download). The fresh virtualenv reuses this environment's site-packages through a `.pth` path line, so
torch and fastai are not installed again: a path line adds the folder but runs none of its `.pth` hooks, so the
checkout's editable install is not on the new interpreter's path. What runs is shown by where it was imported from."""
import configparser, re, subprocess, sys, sysconfig, tarfile, zipfile
from pathlib import Path
import pytest

ROOT = Path(__file__).parents[1]

def settings():
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini', encoding='utf-8')
    return cfg['DEFAULT']

def checkout_files():
    "The files a clone has: tracked ones and new ones git does not ignore, as they are in the working tree"
    r = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=ROOT,
                       capture_output=True, text=True)
    if r.returncode != 0: pytest.skip('not a git checkout: the build copies what a clone holds')
    return [f for f in r.stdout.split('\0') if f and (ROOT/f).is_file()]

def run(cmd, **kwargs):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120, **kwargs)
    assert r.returncode == 0, \
        f"{' '.join(map(str, cmd))} exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r

@pytest.fixture(scope='module')
def dists(tmp_path_factory):
    "(wheel, sdist) built by `python -m build` from a copy of the checkout"
    src, out = tmp_path_factory.mktemp('src'), tmp_path_factory.mktemp('dist')
    for f in checkout_files():
        (src/f).parent.mkdir(parents=True, exist_ok=True)
        (src/f).write_bytes((ROOT/f).read_bytes())
    run([sys.executable, '-m', 'build', '--no-isolation', '--outdir', out, src])
    wheels, sdists = sorted(out.glob('*.whl')), sorted(out.glob('*.tar.gz'))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return wheels[0], sdists[0]

def test_one_version():
    import proxy_attention, yaml
    v = settings()['version']
    assert proxy_attention.__version__ == v
    assert yaml.safe_load((ROOT/'CITATION.cff').read_text())['version'] == v
    top = re.search(r'^## \[(\d[^\]]*)\]', (ROOT/'CHANGELOG.md').read_text(), re.M)
    assert top and top.group(1) == v, 'the newest CHANGELOG entry is the version settings.ini gives'

def test_license_is_apache2():
    text = (ROOT/'LICENSE').read_text()
    assert settings()['license'] == 'apache2'
    assert 'Apache License\n                           Version 2.0, January 2004' in text
    assert 'END OF TERMS AND CONDITIONS' in text and 'APPENDIX: How to apply the Apache License to your work.' in text
    assert len(text.splitlines()) > 190, 'the whole license, not a notice'

def test_wheel_and_sdist_carry_license(dists):
    whl, sdist = dists
    v = settings()['version']
    assert whl.name == f'proxy_attention-{v}-py3-none-any.whl' and sdist.name == f'proxy_attention-{v}.tar.gz'
    lic = (ROOT/'LICENSE').read_bytes()
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        found = [n for n in names if n.endswith('.dist-info/licenses/LICENSE')]
        assert found and z.read(found[0]) == lic, [n for n in names if 'dist-info' in n]
        meta = z.read(next(n for n in names if n.endswith('.dist-info/METADATA'))).decode()
        assert 'proxy_attention/cli.py' in names and 'proxy_attention/_modidx.py' in names
    assert 'License-Expression: Apache-2.0' in meta and 'License-File: LICENSE' in meta
    # what a release and the docs need comes with `pip install -e ".[dev]"`
    dev = {re.match(r'[\w.-]+', l.split(':', 1)[1].strip()).group(0) for l in meta.splitlines()
           if l.startswith('Requires-Dist:') and 'extra == "dev"' in l}
    assert {'build', 'twine', 'sphinx', 'myst-nb', 'sphinx-book-theme', 'sphinx-autoapi', 'playwright'} <= dev, dev
    with tarfile.open(sdist) as t:
        member = t.extractfile(f'proxy_attention-{v}/LICENSE')
        assert member is not None and member.read() == lic
        names = t.getnames()
    # setup.py reads these two: without them the sdist cannot build its wheel
    assert {f'proxy_attention-{v}/settings.ini', f'proxy_attention-{v}/README.md'} <= set(names)

def test_twine_check(dists):
    r = run([sys.executable, '-m', 'twine', 'check', '--strict', *dists])
    assert r.stdout.count('PASSED') == 2, r.stdout

def test_wheel_runs_from_a_fresh_venv(dists, tmp_path):
    whl, _ = dists
    venv = tmp_path/'venv'
    run([sys.executable, '-m', 'venv', '--without-pip', venv])
    py = venv/'bin'/'python'
    purelib = Path(run([py, '-c', 'import sysconfig; print(sysconfig.get_path("purelib"))']).stdout.strip())
    outer = dict.fromkeys(sysconfig.get_path(k) for k in ('purelib', 'platlib'))
    (purelib/'_outer_env.pth').write_text(''.join(f'{p}\n' for p in outer))
    run([sys.executable, '-m', 'pip', '--python', py, 'install', '--no-deps', '--no-index', '--quiet', whl])
    env = {'PATH': f"{venv/'bin'}:/usr/bin:/bin", 'HOME': str(tmp_path)}   # no PYTHONPATH, no checkout on the path
    r = run([venv/'bin'/'proxy-attention', '--help'], cwd=tmp_path, env=env)
    assert r.stdout.startswith('usage: proxy-attention') and '--threshold' in r.stdout
    # the same console script again, its interpreter reporting where each module of the package came from
    r = run([venv/'bin'/'proxy-attention', '--help'], cwd=tmp_path, env={**env, 'PYTHONVERBOSE': '1'})
    loaded = set(re.findall(r"^# code object from '?([^'\n]*proxy_attention[^'\n]*)'?$", r.stderr, re.M))
    assert any(Path(p).name.startswith('cli.') for p in loaded), sorted(loaded)
    assert all(Path(p).is_relative_to(purelib/'proxy_attention') for p in loaded), sorted(loaded)
    code = 'import proxy_attention, proxy_attention.cli as c; print(c.__file__); print(proxy_attention.__version__)'
    r = run([py, '-c', code], cwd=tmp_path, env=env)
    file, version = r.stdout.split()
    assert Path(file) == purelib/'proxy_attention'/'cli.py' and version == settings()['version']
    assert not Path(file).is_relative_to(ROOT)

def test_star_import_after_fastai_takes_none_of_its_names():
    "`from fastai.vision.all import *` then `from proxy_attention.all import *` (the README's order) keeps fastai's names"
    import fastai.vision.all as fastai_all, proxy_attention.all as pa_all
    assert [k for k in pa_all.__all__ if hasattr(fastai_all, k) and getattr(fastai_all, k) is not getattr(pa_all, k)] == []
