"""Print the measured results as Markdown (for the README and results/README.md): accuracy per arm with 95% CIs, paired
differences to the baseline and (where it ran) to the random-map control, epochs to reach the baseline's final accuracy,
and the explainability metrics. Reads a results folder (default: results/); trains nothing. With --figures, also the
accuracy per epoch of each folder's arms (or swept values) as images/<folder>.png; with --forest, each run's paired
difference to the baseline with its interval as images/<folder>-forest.png. The images that the README, the docs and the
deck show are made by scripts/make_images.py (through `figure` and `forest` here), which records them in
images/manifest.json.
Usage: python scripts/results_summary.py [--figures] [--forest] [results/flowers12 ...]"""
import sys
from pathlib import Path
import pandas as pd
from proxy_attention.experiments import (read_results, summarize, summary_table, final_rows, plot_compare,
                                         plot_sweep, default_label, seeds_text, vs_defaults, _settings_of, pair_check,
                                         drift_note, plot_forest)
from proxy_attention.stats import markdown_table
from proxy_attention import reporting
from proxy_attention.viz import save_figure
from proxy_attention.metrics import summarize_explanations, explained_runs
from proxy_attention.questions import reach_survival
from proxy_attention.storage import CONFIG_COLS

# what is known of an explain.csv's models beyond its rows (folders made before models were saved with their hash)
EXPLAIN_CAVEATS = {'flowers12-vit': 'the models were trained a second time, and ended elsewhere than the recorded runs '
                                    '(results/README.md, the notes on the folders): they describe those second models'}

def ci(m, lo, hi, d=3): return f"{m:.{d}f}" + ('' if pd.isna(lo) else f" [{lo:.{d}f}, {hi:.{d}f}]")

def vs_default_proxy(g:pd.DataFrame, unequal_seeds:bool=False) -> pd.DataFrame:
    "Each swept proxy setting (`proxy smooth=aug`) paired by seed with proxy attention at the defaults (`proxy`)"
    s = vs_defaults(g, 'proxy', unequal_seeds=unequal_seeds)
    if not len(s): return s
    return pd.DataFrame({'run': s['arm'], 'paired seeds': s['n_paired'],
                         'vs proxy attention at the defaults, points (paired 95% CI)':
                             [f"{100 * m:+.1f}" + ('' if pd.isna(lo) else f" [{100 * lo:+.1f}, {100 * hi:+.1f}]")
                              for m, lo, hi in zip(s['diff'], s['diff_low'], s['diff_high'])],
                         'verdict': s['verdict']})

def reach_table(g:pd.DataFrame) -> pd.DataFrame:
    "Epochs to reach the seed's baseline final accuracy, every run counted (the median run; how many by each epoch)"
    pc = pair_check(g)   # a drifted run is not its seed's baseline's pair: its epochs are not the treatment's
    key = [c for c in CONFIG_COLS if c in g.columns] + ['arm', 'param', 'setting', 'seed']
    bad = {tuple(map(str, r)) for r in pc.loc[pc['status'] == 'drifted', key].itertuples(index=False)}
    c = reach_survival(g[[tuple(map(str, r)) not in bad for r in g[key].itertuples(index=False)]])
    c = c[c['arm'] != 'baseline'].reset_index(drop=True)   # it reaches its own final accuracy by definition
    t = c[['arm', 'param', 'setting']].copy()
    if c['data_options'].nunique() > 1: t.insert(0, 'data_options', c['data_options'])   # e.g. training-set sizes
    t['runs that reached the baseline'] = [f"{a} of {b}" for a, b in zip(c['reached'], c['runs'])]
    t['median run (epoch)'] = ['not reached' if pd.isna(m) else int(m) for m in c['median_epoch']]
    for k in [k for k in c.columns if k.startswith('by ')]: t[f"reached {k}"] = c[k].astype(int)
    if c['left_out'].any(): t['not counted (training, or no finished baseline)'] = c['left_out'].astype(int)
    return t

def report(folder:Path):
    res = read_results(folder/'results.csv')
    for data, g in res.groupby('data', sort=False):
        r = g.iloc[0]
        opts = '' if r['data_options'] == 'none' else f", {r['data_options'].replace(';', ', ')}"
        fin = final_rows(g)
        commits = sorted(set(fin['commit'].dropna().astype(str))) or ['not recorded']
        where = '' if folder.name == Path(str(data)).name else f" (`{folder.name}/`)"   # flowers12-hyper is flowers12 too
        print(f"\n**{Path(str(data)).name}**{where}: {r['arch']} from scratch, {r['size']} px{opts}, {r['epochs']} epochs of "
              f"fit_one_cycle (lr {r['lr']}, bs {r['bs']}), seeds {sorted(set(fin['seed']))}, commit {', '.join(commits)}\n")
        seed_sets = final_rows(g).groupby(['arm', 'param', 'setting'])['seed'].apply(lambda s: tuple(sorted(s)))
        unequal = seed_sets.nunique() > 1
        if unequal:   # a folder from before seeds were declared for every arm: paired on the common seeds, and said
            print("Not every arm has the same seeds (" + '; '.join(f"{a}{'' if p == 'none' else f' {p}={v}'}: "
                  f"{len(s)}" for (a, p, v), s in seed_sets.items()) + "): each pair uses the seeds both arms have.\n")
        if note := drift_note(pair_check(g)):
            print(f"Pair check: {note}.\n")
        t = summary_table(g, unequal_seeds=unequal).drop(columns=['data', 'arch'])
        if (t['param'] == 'none').all(): t = t.drop(columns=['param', 'setting'])
        print(markdown_table(t))
        if g['epochs'].astype(int).max() > 8:
            print("\nEpochs to reach the seed's baseline final accuracy, every run counted (one that never does counts as "
                  "not reaching it); the runs of drifted pairs left out:\n\n" + markdown_table(reach_table(g)))
        if len(v := vs_default_proxy(g, unequal)): print('\n' + markdown_table(v))
    ex = folder/'explain.csv'
    if ex.exists():
        e = pd.read_csv(ex)
        seeds = e['seed'].nunique()
        which = (('' if 'weights' in e.columns else '; rows from before models were saved: not tied to a recorded model')
                 + (f"; {EXPLAIN_CAVEATS[folder.name]}" if folder.name in EXPLAIN_CAVEATS else ''))
        print(f"\n**explainability** ({Path(str(e['data'].iloc[0])).name}, {e['n_images'].iloc[0]} fixed validation images, "
              f"true class, {', '.join(dict.fromkeys(e['method']))}; mean and 95% CI over {seeds} seed{'s' if seeds != 1 else ''}{which})\n")
        s = summarize_explanations(e.assign(run=explained_runs(e)), by='run')
        s['mean (95% CI)'] = [ci(m, lo, hi) for m, lo, hi in zip(s['mean'], s['ci_low'], s['ci_high'])]
        print(markdown_table(s[['run', 'metric', 'n', 'mean (95% CI)']]))

def _number(v:str):
    "A setting as the callback takes it: `0.11` a float, `eigen` a string"
    try: return float(v)
    except ValueError: return v

def figure(folder:Path, res:pd.DataFrame|None=None, # Its rows (default: all of `folder/results.csv`)
           save=None): # PNG path (None: not saved); the figure is returned either way
    "Accuracy per epoch, mean and 95% CI over seeds: the arms of a `compare`, or the values of one swept setting"
    res = read_results(folder/'results.csv') if res is None else res
    params = sorted(set(res['param']) - {'none'})
    if not params: fig = plot_compare(res, save=save)
    elif res.groupby('arm')['setting'].nunique().max() == 1 and res.loc[res['arm'] != 'baseline', 'setting'].nunique() == 1:
        # a compare at other settings than the defaults (the tune-rerun stage): every proxy arm has the same ones
        r = res[res['arm'] != 'baseline'].iloc[0]
        fig = plot_compare(res, save=save,
                           settings={k: _number(v) for k, v in _settings_of(r['param'], r['setting']).items()})
    elif len(params) == 1: fig = plot_sweep(res, params[0], save=save)
    else:   # one setting at a time against the same baseline (the thesis's hyperparameter figures): a panel each
        import matplotlib.pyplot as plt
        fig, axs = plt.subplots(2, len(params), figsize=(4.6 * len(params), 7), squeeze=False,
                                gridspec_kw=dict(height_ratios=[3, 2]))
        s = summarize(res, unequal_seeds=True)
        defaults = s[(s['arm'] == 'proxy') & (s['param'] == 'none')]
        for p, ax, dx in zip(params, axs[0], axs[1]):
            plot_sweep(res, p, ax=ax); ax.set_title(f"by {p}", fontsize=10); ax.set_ylim(0, 1)
            # below: final accuracy minus the baseline's, paired by seed, each value with its 95% CI
            d = pd.concat([defaults.assign(setting=default_label(p)),
                           s[s['param'] == p]])
            key = pd.to_numeric(d['setting'].str.replace(' (default)', ''), errors='coerce')
            if key.notna().all(): d = d.iloc[key.argsort()]   # values in order, where they are numbers
            y = range(len(d))
            lo, hi = (d['diff'] - d['diff_low']).fillna(0), (d['diff_high'] - d['diff']).fillna(0)
            dx.errorbar(d['diff'] * 100, y, xerr=[lo * 100, hi * 100], fmt='o', capsize=3)
            dx.axvline(0, color='gray', lw=1); dx.set_yticks(list(y), [f"{p}={v}" for v in d['setting']])
            dx.set_xlabel('final accuracy minus baseline (points, paired 95% CI)', fontsize=9); dx.grid(alpha=0.3)
        seeds = seeds_text(final_rows(res))
        fig.suptitle(f"{Path(str(res['data'].iloc[0])).name}, {res['arch'].iloc[0]} from scratch, {res['size'].iloc[0]} px: "
                     f"accuracy per epoch, mean and 95% CI over {seeds} seeds", fontsize=11)
        lims = [dx.get_xlim() for dx in axs[1]]
        for dx in axs[1]: dx.set_xlim(min(l[0] for l in lims), max(l[1] for l in lims))
        fig.tight_layout()
        if save: save_figure(fig, save)
    return fig

def forest(folder:Path, res:pd.DataFrame|None=None, # Its rows (default: all of `folder/results.csv`)
           save=None, # PNG path (None: not saved); the figure is returned either way
           note:str='', # Added to the title (e.g. settings that were the defaults when the rows were made)
           common_seeds:bool=False): # Pair every arm on the seeds all of them have finished (one seed set, one family)
    "The headline figure: each run's paired difference to the baseline (proven pairs only), Holm-corrected verdicts"
    res = read_results(folder/'results.csv') if res is None else res
    if common_seeds:   # a table still filling up: its arms' seeds in common, so that no arm is paired on more seeds
        common = reporting.common_seeds(res, by=('param', 'setting'))
        res = res[res['seed'].isin(common)]
        if not len(res): raise ValueError(f"{folder}: no seed has a finished run of every arm yet")
        note += f"; seed{'s' if len(common) != 1 else ''} {', '.join(map(str, common))} (every arm has them)"
    s = summarize(res, unequal_seeds=True)
    fig = plot_forest(s, title=f"{Path(str(res['data'].iloc[0])).name}, {res['arch'].iloc[0]} from scratch, "
                               f"{res['size'].iloc[0]} px: each run vs the baseline{note}")
    # each row says how many seeds its arm has (plot_forest draws the rows with a difference, last first)
    ax, shown = fig.axes[0], s[s['diff'].notna()].iloc[::-1]
    ax.set_yticks(ax.get_yticks(), [f"{t.get_text()}, {k} seed{'s' if k != 1 else ''}"
                                    for t, k in zip(ax.get_yticklabels(), shown['n_seeds'])], fontsize=9)
    base = s.loc[s['arm'] == 'baseline', 'n_seeds']
    if len(base):
        n = int(base.iloc[0])
        ax.set_title(f"{ax.get_title()}\n(baseline: " + ('1 seed: no interval, no verdict yet)' if n == 1 else
                                                        f"{n} seeds)"), fontsize=10)
    fig.tight_layout()
    if save: save_figure(fig, save)
    return fig

root = Path(__file__).parents[1]
if __name__ == '__main__':
    args = sys.argv[1:]
    for folder in ([a for a in args if a not in ('--figures', '--forest')] or [root/'results']):
        folder = Path(folder)
        if not (folder/'results.csv').exists(): sys.exit(f"results_summary.py: error: no results.csv in {folder}")
        report(folder)
        if '--figures' in args:
            figure(folder, save=root/'images'/f"{folder.name}.png")
            print(f"\n![{folder.name}: accuracy per epoch](images/{folder.name}.png)")
        if '--forest' in args:
            forest(folder, save=root/'images'/f"{folder.name}-forest.png")
            print(f"\n![{folder.name}: each run vs the baseline](images/{folder.name}-forest.png)")
