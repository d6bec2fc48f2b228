"""Print the measured results as Markdown (for the README): accuracy per arm with 95% CIs and verdicts, and the
explainability metrics. Reads results/results.csv and results/explain.csv; trains nothing."""
from pathlib import Path
import pandas as pd
from proxy_attention.experiments import read_results, summarize, format_summary, markdown_table
from proxy_attention.metrics import summarize_explanations

root = Path(__file__).parents[1]
res = read_results(root/'results'/'results.csv')
for data, g in res.groupby('data', sort=False):
    r = g.iloc[0]
    opts = '' if r['data_options'] == 'none' else f", {r['data_options'].replace(';', ', ')}"
    print(f"\n**{data}**: {r['arch']} from scratch, {r['size']} px{opts}, {r['epochs']} epochs of fit_one_cycle "
          f"(lr {r['lr']}, bs {r['bs']}), {g['seed'].nunique()} seeds\n")
    t = format_summary(summarize(g)).drop(columns=['data', 'arch'])
    if (t['param'] == 'none').all(): t = t.drop(columns=['param', 'setting'])
    print(markdown_table(t))
    secs = g[g['epoch'] == g['epochs'] - 1].groupby('arm')['seconds'].mean().round(0)
    print('\nmean wall seconds per run (a CPU shared with other jobs, load varied: not an overhead measurement): ' + ', '.join(f"{a} {s:.0f}" for a, s in secs.items()))
ex = root/'results'/'explain.csv'
if ex.exists():
    e = pd.read_csv(ex)
    print(f"\n**explainability** ({e['data'].iloc[0]}, {e['n_images'].iloc[0]} fixed validation images, true class, "
          f"{e['method'].iloc[0]}; mean and 95% CI over {e['seed'].nunique()} seeds)\n")
    s = summarize_explanations(e, by='arm')
    s['mean (95% CI)'] = [f"{m:.3f} [{lo:.3f}, {hi:.3f}]" for m, lo, hi in zip(s['mean'], s['ci_low'], s['ci_high'])]
    print(markdown_table(s[['arm', 'metric', 'n', 'mean (95% CI)']]))
