"""The measured experiments behind the README and the deck (CPU, a few hours at most; resumable: rerun to finish).
Usage: OMP_NUM_THREADS=1 python scripts/run_experiments.py [stage ...]  (stages: digits fashion sweep sweep2; default all)"""
import sys, time, warnings
warnings.filterwarnings('ignore')
import torch
torch.set_num_threads(1)
from proxy_attention.experiments import compare, sweep, summarize, format_summary, plot_compare, plot_sweep

OUT, IMG = 'results', 'images'
# these folders were begun under the every-epoch feeding, the library's default then: they go on with it
common = dict(arch='resnet18', seeds=3, out=OUT, bs=64, lr=2e-3, num_workers=0, defaults=dict(feed='every_epoch'))
stages = sys.argv[1:] or ['digits', 'fashion', 'sweep', 'sweep2']
for stage in stages:
    t = time.time()
    if stage == 'digits':
        df = compare('digits', epochs=6, size=48, score=('baseline', 'proxy'), n_explain=64,
                     grid=f'{IMG}/digits_resnet18_cams.png', **common)
        plot_compare(df[df['size'].astype(str) == '48'], save=f'{IMG}/digits_resnet18.png')
    elif stage == 'fashion':
        df = compare('fashion-mnist', epochs=4, size=48, n_train=2000, n_valid=1000, **common)
        plot_compare(df, save=f'{IMG}/fashion-mnist_resnet18.png')
    elif stage == 'sweep':
        df = sweep('threshold', [0.5, 0.85], 'digits', epochs=6, size=48, **common)
        plot_sweep(df, 'threshold', save=f'{IMG}/digits_resnet18_threshold.png')
    elif stage == 'sweep2':
        for param, values in (('weight', [0.1, 0.95]), ('subset', [0.2, 0.8])):
            df = sweep(param, values, 'digits', epochs=6, size=48, **common)
            plot_sweep(df, param, save=f'{IMG}/digits_resnet18_{param}.png')
    print(f"== {stage}: {time.time() - t:.0f}s", flush=True)
    print(format_summary(summarize(df)).to_string(), flush=True)
