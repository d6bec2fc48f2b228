"""The thesis-regime experiments: real photos (flowers12, imagenette-4k from ../shared/data), ResNet-18 from scratch,
CAMs with spatial structure (160 px: 5 x 5 maps; 224 px: 7 x 7), the thesis's schedule proportions, a random-map control.

Resumable: every finished (arm, settings, seed) run is skipped, so rerun the same command after an interruption.
Each row records the code commit it was made at (run it from a clean checkout, e.g. a `git worktree`, for a clean hash).

Usage: python scripts/thesis_regime.py STAGE [STAGE ...] [--size N] [--threads N] [--arms ARM [ARM ...]]
       [--seeds SEED [SEED ...]] [--workers N]
--arms keeps only those arms of a `compare` stage (e.g. an arm added to a table later): each run is paired with the
baseline rows of its seed. A seed's runs are claimed by one process at a time (the proxy arms fork from their seed's
baseline), so processes side by side take different seeds: one that finds its seed claimed skips it and says so.
--seeds runs only those seeds of a stage (its own seeds by default), so that one stage can run in several processes
side by side a seed each: e.g. `hyper --seeds 0` beside `hyper --seeds 1` (every run of a seed, its baseline too,
stays in one process, so two processes never train the same run).
Stages, in the order worth running them:
  flowers       baseline, proxy, randomcam on flowers12, 30 epochs, seeds 0-2, explainability metrics of the final models
  flowers-more  thesisfeed, mixup, cutmix on flowers12, the same runs
  imagenette    baseline, proxy, randomcam on imagenette-4k, 128 px, 15 epochs, seeds 0-2
  hyper         flowers12, 20 epochs: threshold 0.5 / 0.95, subset 0.8, one mid-fit proxy step, each vs the baseline
  seeds45       seeds 3 and 4 of the flowers stage (for differences of >= 1 point whose CI straddles zero)
  source        proxies of the right answers and of all images (rightsource, allsource) on flowers12, the same runs
  vit           a ViT-Tiny from scratch on flowers12 (112 px, 16 px patches: a 7 x 7 grid; 20 epochs): the baseline and
                proxies from Grad-CAM++ of the last block, attention rollout and gradient rollout, seeds 0-2, each
                final model's explainability metrics with each of the three maps
  smooth        proxy attention with smoothed maps (smooth='aug', 'eigen') on flowers12, the flowers stage's runs
  tune          an Optuna study on flowers12 (128 px, 20 epochs, 30 trials, pruned) into results/tune-flowers12,
                validated on a seeded fifth of train/ (--holdout): the study never sees the test images
  tune-rerun    the study's best settings (once it has its 30 trials) on the test images over seeds 0-2, against the
                baseline and the random maps at the same settings (128 px, 20 epochs), into results/tune-flowers12
  canonical     the one flowers12 table, made under the proven-pairs harness: baseline, proxy attention at the library's
                defaults (the thesis's feeding), every-epoch feeding, random maps, replay only (weight 0) and the map at
                a random place, seeds 0-4 declared for every arm, one torch thread (recorded), the proxy arms forked
                from their seed's baseline, every final model explained (Grad-CAM++), into results/flowers12-canonical
  fewer         fewer data: the canonical table's baseline, proxy attention, random maps and replay only on a seeded,
                class-balanced 25% and 50% of flowers12's train/ (the same test images, 30 epochs, seeds 0-4 declared,
                one torch thread), each seed's two sizes before the next seed, into results/flowers12-fewer
  vit-ref       the ViT whose attention the CNNs' maps are compared with (question 2): ViT-Tiny from scratch on flowers12
                at 112 px (a 7 x 7 grid), 20 epochs, the baseline only, seeds 0-1 declared (two ViTs: how far two
                ViTs agree gives a scale, not a ceiling), one torch thread, final weights kept, into results/flowers12-vit-ref
  agreement     question 2 from recorded weights (never retrained): each canonical baseline, proxy and random-map CNN's
                Grad-CAM++ maps of the 240 test images against each vit-ref ViT's gradient rollout, per image, into
                results/flowers12-agreement/agreement.csv (made again whole each time: seconds a model), its summary
                printed (the figure of seed 0's maps: scripts/make_images.py --only flowers12-agreement)
The adaptive schedules (`plateau`, `mistakes`) ran here as a stage of their own until neither beat the fixed schedule
(3 seeds, made at 29a4e19, ebabec0 and bf43cea; their rows stay in results/flowers12/) and the library dropped them.
On a GPU: add --size 224 (the thesis's resolution) and the whole matrix takes minutes."""
import argparse, time
from pathlib import Path
import torch

DATA = Path('../shared/data')   # relative to the repo root, where the script is run
FLOWERS, IMAGENETTE = '../shared/data/flowers12', '../shared/data/imagenette-4k'   # as recorded in the CSVs: run from the repo root
TUNE = dict(data=FLOWERS, arch='resnet18', size=128, epochs=20, bs=64, lr=2e-3)   # the study's fit, and its re-run's
TUNE_DB, TUNE_TRIALS, TUNE_OUT = 'sqlite:///results/tune-flowers12/tune.db', 30, 'results/tune-flowers12'
CORE, MORE = ('baseline', 'proxy', 'randomcam'), ('thesisfeed', 'mixup', 'cutmix')
CANONICAL = ('baseline', 'proxy', 'everyepoch', 'randomcam', 'replay', 'randomplace')
CANON, VIT_REF, AGREE_ARMS = 'results/flowers12-canonical', 'results/flowers12-vit-ref', ('baseline', 'proxy', 'randomcam')
FEWER, FRACTIONS = ('baseline', 'proxy', 'randomcam', 'replay'), (0.25, 0.5)   # the 100% points: the canonical table
DECLARED_SEEDS = (0, 1, 2, 3, 4)   # the canonical and fewer-data stages' seeds, declared for every arm before they ran
STAGE_ARMS = {'flowers': CORE, 'flowers-more': MORE, 'imagenette': CORE, 'seeds45': CORE,
              'source': ('rightsource', 'allsource'), 'canonical': CANONICAL, 'fewer': FEWER,
              'vit-ref': ('baseline',)}   # the compare stages

def seed_list(text:str) -> list:
    "`3,4` or `3` as a list of seeds"
    try: return [int(t) for t in text.split(',') if t.strip()]
    except ValueError: raise argparse.ArgumentTypeError(f"{text!r} is not a seed or a comma-separated list of seeds")

class Parser(argparse.ArgumentParser):
    def error(self, message):   # one line and argparse's exit status 2, without the usage block
        self.exit(2, f"{self.prog}: error: {message}\n")

def main():
    p = Parser(description=__doc__.split('\n')[0])
    p.add_argument('stages', nargs='+', choices=['flowers', 'flowers-more', 'imagenette', 'hyper', 'seeds45', 'source', 'vit', 'smooth',
                                           'tune', 'tune-rerun', 'canonical', 'fewer', 'vit-ref',
                                           'agreement'])
    p.add_argument('--workers', type=int, default=1, help='tune: worker processes of the study')
    p.add_argument('--size', type=int, default=160, help='image side for the flowers12 stages (224 on a GPU)')
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch\'s)')
    p.add_argument('--arms', nargs='+', default=None, help="only these arms of the stages' compare runs")
    p.add_argument('--seeds', nargs='+', type=seed_list, default=None,
                   help="only these seeds (default: the stage's own), e.g. --seeds 3,4 or --seeds 3 4")
    a = p.parse_args()
    if a.seeds is not None: a.seeds = [s for group in a.seeds for s in group]
    if a.seeds is not None:
        if bad := [s for s in a.seeds if s < 0]: p.error(f"--seeds: {bad[0]} is negative; seeds are integers >= 0")
        if len(set(a.seeds)) < len(a.seeds): p.error(f"--seeds names a seed twice: {' '.join(map(str, a.seeds))}")
        if 'tune' in a.stages: p.error("--seeds applies to the stages that train seeds, not to tune (trials are seeded)")
    if a.arms is not None:   # checked for every stage before the first run starts
        known = sorted({x for v in STAGE_ARMS.values() for x in v})
        if bad := [x for x in a.arms if x not in known]:
            p.error(f"--arms: unknown arm {', '.join(bad)}; the compare stages' arms are {', '.join(known)}")
        for stage in a.stages:
            if stage not in STAGE_ARMS:
                p.error(f"--arms applies to the compare stages ({', '.join(STAGE_ARMS)}), not to {stage}")
            if not set(a.arms) & set(STAGE_ARMS[stage]):
                p.error(f"--arms {' '.join(a.arms)} keeps no arm of {stage}: its arms are {', '.join(STAGE_ARMS[stage])}")
    def seeds(own):   # a stage's own seeds (a count or a list, as `compare` takes them), unless --seeds names others
        return own if a.seeds is None else a.seeds
    def arms(stage):
        return tuple(x for x in STAGE_ARMS[stage] if a.arms is None or x in a.arms)
    if not DATA.is_dir(): p.exit(2, f"{p.prog}: error: {DATA} is missing (the shared data sets; see ../shared/data/README.md)\n")
    if a.threads: torch.set_num_threads(a.threads)
    from proxy_attention.experiments import compare, sweep
    # the matrix was begun under the every-epoch feeding, the library's default then: its runs go on with it (the
    # thesisfeed arm is the thesis's feeding, the default since)
    common = dict(arch='resnet18', bs=64, lr=2e-3, num_workers=0, defaults=dict(feed='every_epoch'))
    flowers = dict(data=FLOWERS, size=a.size, epochs=30, out='results/flowers12', **common)
    for stage in a.stages:
        t = time.time()
        if stage == 'flowers':
            compare(arms=arms('flowers'), seeds=seeds(3), score=CORE, n_explain=64, **flowers)
        elif stage == 'flowers-more': compare(arms=arms('flowers-more'), seeds=seeds(3), **flowers)
        elif stage == 'source': compare(arms=arms('source'), seeds=seeds(3), **flowers)
        elif stage == 'vit':   # every arm of a seed before the next seed: a partial matrix is still paired
            sweep('method', ['gradcam++', 'rollout', 'gradrollout'], seeds=seeds(3), score=True,
                  explain_methods=('gradcam++', 'rollout', 'gradrollout'),   # every model explained by every map
                  **dict(flowers, arch='vit_tiny_patch16_224', size=112, epochs=20, out='results/flowers12-vit'))
        elif stage == 'smooth': sweep('smooth', ['aug', 'eigen'], seeds=seeds(3), score=True, **flowers)
        elif stage == 'tune':
            from proxy_attention.tune import tune, tune_report
            # validation on a seeded fifth of train/: the test images, on which the re-run is judged, stay unseen
            study = tune(**TUNE, trials=TUNE_TRIALS, workers=a.workers, storage=TUNE_DB, num_workers=0, holdout=0.2)
            tune_report(study, TUNE_OUT)
        elif stage == 'tune-rerun':
            import optuna
            from proxy_attention.tune import open_storage, settings_of, study_name_of, finished_trials
            name = study_name_of(dict(TUNE, objective='accuracy'))
            if not Path(TUNE_DB.split(':///')[-1]).exists():
                p.exit(2, f"{p.prog}: error: no study in {TUNE_DB}; run the tune stage first\n")
            study = optuna.load_study(study_name=name, storage=open_storage(TUNE_DB))
            if (n := len(finished_trials(study))) < TUNE_TRIALS:
                p.exit(2, f"{p.prog}: error: the study has finished {n} of its {TUNE_TRIALS} trials; run the tune stage "
                          "first\n")
            if study.user_attrs.get('config', {}).get('dls_kwargs', {}).get('holdout') != 0.2:
                p.exit(2, f"{p.prog}: error: the study in {TUNE_DB} was not searched on the held-out fifth of train/\n")
            if not any(t.state.name == 'COMPLETE' for t in study.trials):
                p.exit(2, f"{p.prog}: error: no trial of the study completed; nothing to re-run\n")
            best = settings_of(study.best_trial.params, TUNE['epochs'])
            print(f"re-running trial {study.best_trial.number} ({study.best_value:.4f} on the held-out fifth of train/): "
                  f"{best}", flush=True)
            compare(**TUNE, arms=('baseline', 'proxy', 'randomcam'), seeds=seeds(3), settings=best, out=TUNE_OUT,
                    num_workers=0)
        elif stage == 'canonical':   # the library's defaults: no `defaults=`; seeds declared for every arm at once
            compare(data=FLOWERS, size=a.size, epochs=30, arch='resnet18', bs=64, lr=2e-3, num_workers=0,
                    arms=arms('canonical'), seeds=seeds(DECLARED_SEEDS), score=arms('canonical'), n_explain=64,
                    threads=a.threads or 1, out=CANON)
        elif stage == 'fewer':   # seeds declared up front; a seed's two sizes together, so a partial table is paired
            for seed in seeds(DECLARED_SEEDS):
                for fraction in FRACTIONS:
                    compare(data=FLOWERS, size=a.size, epochs=30, arch='resnet18', bs=64, lr=2e-3, num_workers=0,
                            arms=arms('fewer'), seeds=[seed], train_fraction=fraction, threads=a.threads or 1,
                            out='results/flowers12-fewer')
        elif stage == 'vit-ref':
            compare(data=FLOWERS, size=112, epochs=20, arch='vit_tiny_patch16_224', bs=64, lr=2e-3, num_workers=0,
                    arms=arms('vit-ref'), seeds=seeds(2), threads=a.threads or 1, out=VIT_REF)
        elif stage == 'agreement':
            cnn, vit, out = Path(CANON), Path(VIT_REF), Path('results/flowers12-agreement')
            for f in (cnn, vit):
                if not (f/'results.csv').exists() or not (f/'models').is_dir():
                    p.exit(2, f"{p.prog}: error: {f} has no results.csv or models/: run the canonical and vit-ref "
                              "stages first (the models are kept where they were trained)\n")
            from proxy_attention.questions import vit_agreement, agreement_summary
            from proxy_attention.stats import markdown_table
            from proxy_attention.experiments import read_results, final_rows
            have = set(final_rows(read_results(cnn/'results.csv'))['arm'])
            if 'baseline' not in have: p.exit(2, f"{p.prog}: error: {cnn} has no finished baseline yet\n")
            agree_arms = tuple(x for x in AGREE_ARMS if x in have)   # as far as the canonical table has come
            if missing := [x for x in AGREE_ARMS if x not in have]: print(f"not finished yet: {', '.join(missing)}")
            df = vit_agreement(cnn, vit, arms=agree_arms)
            out.mkdir(parents=True, exist_ok=True)
            df.to_csv(out/'agreement.csv', index=False)
            s = agreement_summary(df)
            print(markdown_table(s[['arm', 'measure', 'n_seeds', 'mean', 'ci_low', 'ci_high', 'diff', 'diff_low',
                                    'diff_high', 'p_holm', 'verdict']].round(3)), flush=True)
            print("its figure: python scripts/make_images.py --only flowers12-agreement (the images' manifest)")
        elif stage == 'seeds45': compare(arms=arms('seeds45'), seeds=seeds([3, 4]), score=CORE, n_explain=64, **flowers)
        elif stage == 'imagenette':
            compare(data=IMAGENETTE, size=128, epochs=15, arms=arms('imagenette'), seeds=seeds(3), score=CORE, n_explain=64,
                    out='results/imagenette-4k', **common)
        elif stage == 'hyper':
            hyper = dict(flowers, epochs=20, out='results/flowers12-hyper', seeds=seeds(3))
            sweep('threshold', [0.5, 0.85, 0.95], **hyper)
            sweep('subset', [0.2, 0.8], **hyper)
            sweep('schedule', ['10,p,9'], **hyper)   # the thesis's [20,'p',19] shape: one proxy step mid-fit
        print(f"== {stage}: {time.time() - t:.0f}s", flush=True)

if __name__ == '__main__': main()
