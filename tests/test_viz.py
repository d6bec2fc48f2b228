"Grids (proxy_attention.viz) and the tuner (proxy_attention.tuner) on real digits, CPU only"
import random, threading
import numpy as np, pytest, torch
from proxy_attention.callback import ProxyAttention
from proxy_attention.pixels import PixelSpace
from proxy_attention.training import make_learner
from proxy_attention.core import proxy_images
from proxy_attention.data import arrays_dls
from proxy_attention import tuner as tuner_mod
from proxy_attention.viz import Grid, attention_grid, preview_grid, compare_grid, find_mistakes, to_hwc
from proxy_attention.tuner import ProxyTuner

@pytest.fixture(scope='module', autouse=True)
def one_thread():
    "Small models: one thread is fastest on a shared CPU; restored afterwards"
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

def quiet_fit(learn, n=1, cbs=None):
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(n, 2e-3, cbs=cbs)
    return learn

@pytest.fixture(scope='module')
def learn(digits64):
    "A resnet18 after one epoch on 64 px digits: plenty of training mistakes, real (2x2) feature maps"
    return quiet_fit(make_learner(digits64, 'resnet18', pretrained=False, seed=0))

def no_hooks(model): return not any(m._forward_hooks or m._backward_hooks or m._forward_pre_hooks for m in model.modules())

def predict(learn, x):
    m = learn.model
    was = m.training
    with torch.no_grad():
        m.eval(); out = m(x)
    m.train(was)
    return out.argmax(-1)

# ---------------------------------------------------------------- grids

@pytest.mark.parametrize('training', [True, False])
def test_attention_grid_shapes_labels_and_model_state(learn, training):
    learn.model.train(training)
    grads = [None if p.grad is None else p.grad.clone() for p in learn.model.parameters()]
    g = attention_grid(learn, n=5, method='gradcam')
    assert g.names == ['original', 'CAM (gradcam)', 'proxy'] and len(g) == 5
    for name in g.names: assert g[name].shape == (5, 64, 64, 3) and g[name].dtype == np.uint8
    x, y = PixelSpace(learn.dls).from_uint8(g.data['images']), g.data['labels']
    preds, vocab = predict(learn, x), learn.dls.vocab
    assert g.captions == [f"true {vocab[t]}, pred {vocab[p]}" for t, p in zip(y.tolist(), preds.tolist())]
    assert (preds != y).all()                                   # by default: training mistakes
    assert torch.equal(g.data['proxies'], proxy_images(g.data['images'], g.data['cams'], 0.85, 0.1))
    assert (g['proxy'] != g['original']).any()
    assert learn.model.training == training and all(m.training == training for m in learn.model.modules())
    assert no_hooks(learn.model)
    for a, p in zip(grads, learn.model.parameters()): assert (a is None and p.grad is None) or torch.equal(a, p.grad)
    learn.model.eval()

def test_find_mistakes_leaves_loaders_and_rng_alone(learn):
    rng_state, dl_rng = random.getstate(), learn.dls.train.rng.getstate()
    x, y, source = find_mistakes(learn, n=7)
    assert source == 'training mistakes' and x.shape == (7, 3, 64, 64) and len(y) == 7
    assert (predict(learn, x) != y).all()
    assert random.getstate() == rng_state and learn.dls.train.rng.getstate() == dl_rng

def test_no_mistakes_falls_back_to_a_validation_batch():
    imgs = np.random.default_rng(0).integers(0, 255, (40, 8, 8), dtype=np.uint8)
    dls = arrays_dls(imgs, ['only'] * 40, size=64, bs=8, num_workers=0)     # one class: every prediction is right
    l = make_learner(dls, 'resnet18', pretrained=False, seed=0)
    x, y, source = find_mistakes(l, n=3)
    assert source == 'validation batch' and len(x) == 3
    assert torch.equal(x, dls.valid.one_batch()[0][:3].cpu())
    g = attention_grid(l, n=3)
    assert 'validation batch' in g.title and g.captions == ['true only, pred only'] * 3

def test_given_images_need_labels(learn):
    x, y, _ = find_mistakes(learn, n=2)
    with pytest.raises(ValueError, match='labels `y`'): attention_grid(learn, x=x)
    with pytest.raises(ValueError, match='2 images'): attention_grid(learn, x=x, y=y[:1])
    with pytest.raises(ValueError, match='threshold'): attention_grid(learn, x=x, y=y, threshold=2)
    g = attention_grid(learn, x=x, y=y, explain='label')
    assert len(g) == 2 and 'given images' in g.title

def test_show_hands_ipyplot_numpy_arrays(learn, monkeypatch):
    import ipyplot
    calls = []
    monkeypatch.setattr(ipyplot, 'plot_images', lambda images, **kw: calls.append(('rows', images, kw)))
    monkeypatch.setattr(ipyplot, 'plot_class_tabs', lambda images, labels, **kw: calls.append(('tabs', images, dict(kw, labels=labels))))
    g = attention_grid(learn, n=3)
    g.show()
    assert [c[0] for c in calls] == ['rows'] * 3
    for i, (_, images, kw) in enumerate(calls):
        assert list(kw['labels']) == g.names and kw['custom_texts'] == [g.captions[i]] * 3
        assert all(isinstance(im, np.ndarray) and im.dtype == np.uint8 and im.shape == (64, 64, 3) for im in images)
        assert np.array_equal(images[2], g['proxy'][i])
    calls.clear()
    g.show(tabs=True)
    ((kind, images, kw),) = calls
    assert kind == 'tabs' and len(images) == 9 and list(kw['tabs_order']) == g.names
    assert kw['labels'] == [n for n in g.names for _ in range(3)]
    assert all(isinstance(im, np.ndarray) and im.shape == (64, 64, 3) for im in images)

def test_show_renders_html_with_embedded_images(learn, monkeypatch):
    import ipyplot._html_helpers as h
    shown = []
    monkeypatch.setattr(h, 'display', lambda obj: shown.append(obj.data))
    attention_grid(learn, n=2).show(max_rows=1)
    assert shown[-1].count('data:image/png;base64,') == 3          # ipyplot's grid: one row, three views

def test_plot_writes_a_png_where_asked_and_nowhere_else(learn, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    g = attention_grid(learn, n=3)
    fig = g.plot()
    assert list(tmp_path.rglob('*')) == [] and len(fig.axes) == 9
    assert [ax.get_title() for ax in fig.axes[:3]] == g.names
    assert [fig.axes[3*i].get_ylabel() for i in range(3)] == g.captions
    out = tmp_path / 'images' / 'grid.png'
    g.plot(save=out, max_rows=2)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob('*')) == ['images', 'images/grid.png']
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    with pytest.raises(ValueError, match='.png'): g.plot(save=tmp_path / 'grid.svg')
    assert not (tmp_path / 'grid.svg').exists()

def test_grid_checks_its_columns():
    a = np.zeros((2, 4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match='one image per caption'): Grid({'a': a}, ['x'])
    with pytest.raises(ValueError, match='numpy uint8'): Grid({'a': torch.zeros(2, 4, 4, 3, dtype=torch.uint8)}, ['x', 'y'])
    h = Grid({'original': a, 'proxy': a + 1}, ['<b>', 'y']).html()
    assert h.count("class='pa-proxy'") == 2 and '&lt;b&gt;' in h

def test_preview_grid_shows_what_the_callback_made(digits64):
    cb = ProxyAttention(schedule=['p'], subset=0.5, threshold=0.5, weight=0.5, seed=0, n_preview=5, verbose=False,
                        feed='every_epoch')
    quiet_fit(make_learner(digits64, 'resnet18', pretrained=False, seed=1), 1, cb)
    g = preview_grid(cb)
    p, vocab = cb.preview, digits64.vocab
    assert len(g) == min(5, cb.history[0]['made'])
    assert np.array_equal(g['original'], to_hwc(p['images'])) and np.array_equal(g['proxy'], to_hwc(p['proxies']))
    assert g.captions == [f"true {vocab[t]}, pred {vocab[q]}" for t, q in zip(p['labels'].tolist(), p['preds'].tolist())]
    assert g.names[1] == 'CAM (gradcam++)' and 'proxy step after epoch 1:' in g.title   # the first epoch, counted from 1
    assert len(preview_grid(cb, n=2)) == 2
    with pytest.raises(ValueError, match='no preview'): preview_grid(ProxyAttention())

NAMES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine']

@pytest.fixture(scope='module')
def named_fit(digits64):
    "A fit on digits whose classes have names (as a folder's do), the callback passed to `fit` only: gone with it"
    from sklearn.datasets import load_digits
    d = load_digits()
    images = np.round(d.images[:192] * (255 / 16)).astype(np.uint8)
    dls = arrays_dls(images, [NAMES[t] for t in d.target[:192]], size=64, bs=32, num_workers=0)
    cb = ProxyAttention(schedule=['p', 'p'], subset=0.5, threshold=0.5, weight=0.1, seed=0, n_preview=4, verbose=False,
                        feed='every_epoch')
    quiet_fit(make_learner(dls, 'resnet18', pretrained=False, seed=1), 2, cb)
    return cb, dls

def test_preview_names_the_classes_after_the_fit(named_fit):
    cb, dls = named_fit
    assert cb.learn is None and cb.vocab == list(dls.vocab) == sorted(NAMES)   # the learner gone, its class names kept
    g = preview_grid(cb)
    p = cb.preview
    assert g.captions == [f"true {dls.vocab[t]}, pred {dls.vocab[q]}" for t, q in zip(p['labels'].tolist(), p['preds'].tolist())]

def test_preview_titles_the_step_that_made_its_images(named_fit):
    "The issue's case: the images come from an earlier step than the last record (later steps made none)"
    cb, _ = named_fit
    made = [r['epoch'] for r in cb.history if r['made'] > 0]
    assert f"proxy step after epoch {made[-1] + 1}:" in preview_grid(cb).title
    history = cb.history
    try:
        cb.history = [history[0], dict(history[-1], epoch=5, made=0)]   # a later step that found nothing to make
        assert preview_grid(cb).title.startswith(f"proxy step after epoch {history[0]['epoch'] + 1}:")
    finally: cb.history = history

def test_preview_difference_column_shows_a_small_darkening(named_fit):
    "At weight 0.1 (at most 10% darker) the proxy looks like its original; the scaled difference does not"
    cb, _ = named_fit
    g = preview_grid(cb)
    x, px = cb.preview['images'].int(), cb.preview['proxies'].int()
    diff = (px - x).abs().amax(1)
    assert 0 < int(diff.max()) <= 26                                 # a few grey levels: invisible side by side
    name = g.names[-1]
    col = g[name]
    assert name == f"difference (x{255 / int(diff.max()):.3g})" and col.max() == 255 and (col[..., 0] == col[..., 2]).all()
    assert np.array_equal(col[..., 0] == 0, (diff == 0).numpy())     # black exactly where nothing changed
    assert np.array_equal(preview_grid(cb, gain=1)['difference (x1)'][..., 0], diff.numpy().astype(np.uint8))   # unscaled

def test_compare_grid_same_images_each_learners_cams(learn, digits64):
    other = make_learner(digits64, 'resnet18', pretrained=False, seed=3)
    other.model.train()
    g = compare_grid({'baseline': learn, 'proxy': other}, n=4, method='gradcam')
    base = attention_grid(learn, n=4, method='gradcam')
    assert g.names == ['original', 'baseline (gradcam)', 'proxy (gradcam)']
    assert np.array_equal(g['original'], base['original'])                      # the baseline's mistakes
    assert np.array_equal(g['baseline (gradcam)'], base['CAM (gradcam)'])
    x = PixelSpace(digits64).from_uint8(g.data['images'])
    v = digits64.vocab
    pa, pb = predict(learn, x), predict(other, x)
    assert g.captions == [f"true {v[t]}, baseline {v[a]}, proxy {v[b]}" for t, a, b in zip(g.data['labels'].tolist(), pa.tolist(), pb.tolist())]
    assert other.model.training and no_hooks(other.model)
    same = compare_grid([learn, learn], n=2)
    assert np.array_equal(same['model 0 (gradcam++)'], same['model 1 (gradcam++)'])

# ---------------------------------------------------------------- tuner

@pytest.fixture
def counted(monkeypatch):
    "Count the tuner's `compute_cams` calls"
    calls = []
    real = tuner_mod.compute_cams
    def wrapper(model, x, method, **kw):
        calls.append(method)
        return real(model, x, method, **kw)
    monkeypatch.setattr(tuner_mod, 'compute_cams', wrapper)
    return calls

def test_tuner_caches_cams_per_method_and_explained_class(learn, counted):
    t = ProxyTuner(learn, n=3)
    assert counted == ['gradcam++']
    t.w_threshold.value, t.w_weight.value, t.w_subset.value = 0.4, 0.7, 0.5
    t.w_replacement.value = 'mean'; t.w_schedule.value = '1,p,2'; t.w_epochs.value = 4
    assert counted == ['gradcam++']                                             # no CAM recomputed
    assert torch.equal(t.grid.data['proxies'], proxy_images(t.pixels, t.cams('gradcam++', 'pred').cams, 0.4, 0.7, 'mean'))
    t.w_method.value = 'layercam'; t.w_method.value = 'gradcam++'
    assert counted == ['gradcam++', 'layercam']
    t.w_explain.value = 'label'
    assert counted == ['gradcam++', 'layercam', 'gradcam++']
    t.refresh()
    assert len(counted) == 4

def test_tuner_snippet_is_the_callback_to_paste(learn):
    t = ProxyTuner(learn, n=2)
    assert t.snippet == 'ProxyAttention()' and 'ProxyAttention()' in t.w_snippet.value
    t.w_threshold.value = 0.7; t.w_subset.value = 0.35; t.w_method.value = 'xgradcam'; t.w_schedule.value = '1, p, 2'; t.w_epochs.value = 4
    assert t.snippet == "ProxyAttention(threshold=0.7, subset=0.35, method='xgradcam', schedule=[1, 'p', 2])"
    cb = eval(t.snippet, {'ProxyAttention': ProxyAttention})
    assert (cb.threshold, cb.subset, cb.method, cb.schedule) == (0.7, 0.35, 'xgradcam', [1, 'p', 2])
    t.w_threshold.value = 1.0
    assert np.array_equal(t.grid['proxy'], t.grid['original'])

def test_tuner_invalid_settings_are_a_message(learn):
    t = ProxyTuner(learn, n=2, epochs=3)
    assert t.message == '' and t.w_message.value == ''
    t.w_schedule.value = '5,p,9,p,4'
    assert 'spans 20 epochs' in t.message and 'n_epoch=3' in t.message and 'spans 20 epochs' in t.w_message.value
    assert t.snippet == '' and t.w_snippet.value == ''
    t.w_schedule.value = '1,x,1'
    assert "'x'" in t.message
    assert t.compare() is None and 'cannot compare' in t.w_status.value and not t.running
    t.w_schedule.value = '2'
    assert t.message == '' and t.snippet == 'ProxyAttention(schedule=2)'
    with pytest.raises(ValueError, match='threshold'): ProxyTuner(learn, threshold=1.5)

def test_tuner_compare_runs_in_a_thread(learn, digits64):
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    rngs = [dl.rng for dl in digits64.loaders]
    t = ProxyTuner(learn, n=2, epochs=2, schedule=['p', 'p'], subset=0.5)
    thread = t.compare()
    assert isinstance(thread, threading.Thread) and thread is not threading.current_thread()
    assert t.wait(timeout=300) and t.error is None, t.w_status.value
    r = t.results
    assert len(r['baseline']['accuracies']) == len(r['proxy']['accuracies']) == 2
    assert r['proxy']['proxy_steps'][0]['epoch'] == 0 and r['flags'] == [True, True]
    assert r['settings'] == "ProxyAttention(subset=0.5, schedule=['p', 'p'], seed=42)"
    assert (t.w_progress.value, t.w_progress.max) == (4, 4) and not t.w_compare.disabled
    assert t.w_plot.value[:4] == b'\x89PNG' and t.w_plot.layout.display == ''
    assert 'baseline' in t.w_status.value and 'after 2 epochs' in t.w_status.value
    assert [dl.rng for dl in digits64.loaders] == rngs                          # the loaders' RNGs given back
    assert all(torch.equal(v, learn.model.state_dict()[k]) for k, v in before.items())   # the user's learner untouched

def test_tuner_compare_failure_is_a_message(learn):
    t = ProxyTuner(learn, n=2, epochs=1, schedule=['p'], arch='no_such_arch')
    t.compare(wait=True)
    assert t.error is not None and 'the comparison failed' in t.w_status.value and not t.w_compare.disabled

# ---------------------------------------------------------------- the notebook's pictures, for the docs site

def test_viz_notebook_keeps_its_pictures():
    "05_viz keeps a small PNG under every cell that plots a grid (the docs show them), and no stderr or machine path"
    import json, re
    from pathlib import Path
    nb = json.loads((Path(__file__).parents[1]/'nbs'/'05_viz.ipynb').read_text())
    code = [c for c in nb['cells'] if c['cell_type'] == 'code' and '#| export' not in ''.join(c['source'])]
    plots = [c for c in code if re.match(r'^\w+\.plot\(', ''.join(c['source']).strip().splitlines()[-1])]
    assert len(plots) >= 4
    for c in plots:
        pngs = [o['data']['image/png'] for o in c.get('outputs', []) if 'image/png' in o.get('data', {})]
        assert len(pngs) == 1 and len(pngs[0]) < 150_000, ''.join(c['source'])
    outputs = [o for c in code for o in c.get('outputs', [])]
    assert not [o for o in outputs if o.get('name') == 'stderr']
    assert not re.search(r'/(home|work|tmp|usr)/', json.dumps([o.get('text', '') for o in outputs]))

def test_tuner_shows_itself_as_its_widget(learn):
    "A cell that ends in `tuner` shows the controls, not `<ProxyTuner at 0x...>`"
    t = ProxyTuner(learn, n=2)
    bundle = t._repr_mimebundle_()
    assert bundle['application/vnd.jupyter.widget-view+json']['model_id'] == t.widget.model_id
