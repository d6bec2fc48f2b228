"""Check, here, that every module the GPU run imports is on the bare GPU machine or in the wheel folder.

`python scripts/wheel_coverage.py .whl` imports what `scripts/device_check.sh` runs with the rest of this venv hidden:
only the standard library, the distributions of `BOX_PACKAGES` with their dependencies (as this venv resolves them),
the wheels in the folder and the project itself can be imported. Exit status 1 names what is missing."""
import importlib, importlib.abc, importlib.metadata as md, re, sys
from importlib.machinery import PathFinder
from pathlib import Path
from packaging.requirements import Requirement

# What the GPU machine has (Python 3.12 with torch, timm, pandas, scikit-learn, matplotlib, opencv, tensorboard).
BOX_PACKAGES = ('torch', 'torchvision', 'timm', 'pandas', 'scikit-learn', 'matplotlib', 'opencv-python-headless', 'tensorboard')
# What the GPU run imports: the GPU tests and their conftest, the benchmark and the compare command.
IMPORTS = ('fastai.vision.all', 'fastai.distributed', 'pytorch_grad_cam', 'pytest', 'proxy_attention.callback',
           'proxy_attention.trackers', 'proxy_attention.cli', 'proxy_attention.benchmark', 'proxy_attention.experiments',
           'proxy_attention.metrics', 'proxy_attention.data')

def canon(name:str) -> str: return re.sub(r'[-_.]+', '-', name).lower()

def with_dependencies(names) -> set:
    "`names` and everything they require, as installed here (extras left out)"
    seen, todo = set(), [canon(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen: continue
        try: reqs = md.requires(name) or []
        except md.PackageNotFoundError: continue
        seen.add(name)
        for r in map(Requirement, reqs):
            if r.marker is None or r.marker.evaluate({'extra': ''}): todo.append(canon(r.name))
    return seen

def wheel_names(folder) -> set: return {canon(p.name.split('-')[0]) for p in Path(folder).glob('*.whl')}

class HideOthers(importlib.abc.MetaPathFinder):
    "In place of the path finder: top-level modules of distributions outside `allowed` are not found (as on the GPU machine)"
    def __init__(self, allowed): self.allowed, self.owners, self.hidden = allowed, md.packages_distributions(), {}
    def find_spec(self, fullname, path=None, target=None):
        dists = self.owners.get(fullname) if '.' not in fullname else None
        if dists and not any(canon(d) in self.allowed for d in dists):
            self.hidden[fullname] = dists
            return None   # not found, so `importlib.util.find_spec` says so too, as optional imports expect
        return PathFinder.find_spec(fullname, path, target)
    def find_distributions(self, context=md.DistributionFinder.Context()):
        "Package metadata only of what is there"
        return (d for d in PathFinder.find_distributions(context) if canon(d.metadata['Name'] or '') in self.allowed)

def main(folder='.whl'):
    if not Path(folder).is_dir(): sys.exit(f"no wheel folder {folder!r}: run scripts/fetch_wheels.sh")
    carried = wheel_names(folder)
    allowed = with_dependencies(BOX_PACKAGES) | carried | {'proxy-attention'}
    finder = HideOthers(allowed)
    at = sys.meta_path.index(PathFinder)
    sys.meta_path[at] = finder
    failed = {}
    for name in IMPORTS:
        try: importlib.import_module(name)
        except Exception as e: failed[name] = f"{type(e).__name__}: {e}"
    sys.meta_path[at] = PathFinder
    optional = sorted(finder.hidden)
    print(f"wheel coverage: {len(carried)} carried distributions; {len(IMPORTS) - len(failed)}/{len(IMPORTS)} imports work with only "
          f"the GPU machine's packages and the wheels" + (f"; not there, and imported only if there: {', '.join(optional)}" if optional and not failed else ''))
    for name, err in failed.items(): print(f"  import {name} fails: {err}", file=sys.stderr)
    if failed: print(f"  not on the GPU machine and not carried: {', '.join(sorted(finder.hidden))}", file=sys.stderr)
    sys.exit(1 if failed else 0)

if __name__ == '__main__': main(*sys.argv[1:])
