"""One source for the settings: every knob of the callback's table (`SETTINGS`) reaches the command line, `sweep`, `tune`
and `ProxyTuner`, and each one changes what a fit's proxy step makes, end to end through the callback."""
import pytest, torch
from fastcore.script import anno_parser
from proxy_attention.callback import ProxyAttention, SETTINGS, Setting
from proxy_attention import cli, experiments, tune, tuner
from conftest import tiny_learner, quiet_fit

KNOBS = [k for k, s in SETTINGS.items() if s.knob]
# the end-to-end fit: 3 epochs, a proxy step after the first and the last, a visible darkening
BASE = dict(threshold=0.5, weight=0.5, subset=0.5, schedule=['p', 1, 'p'], feed='every_epoch')
# for each knob, a value other than the base fit's
OTHER = dict(threshold=0.7, weight=0.9, subset=1.0, source='all', method='gradcam', smooth='eigen', place='random',
             replacement='zero', schedule=['p', 'p', 1], feed='proxy_epochs')
as_text = lambda v: ','.join(map(str, v)) if isinstance(v, list) else str(v)

def test_every_knob_has_a_value_to_try_here():
    "A knob added to the callback's table fails here until the tests below try it"
    assert sorted(OTHER) == sorted(KNOBS)

@pytest.mark.parametrize('name', KNOBS)
def test_a_knob_is_a_flag_of_the_command_line(name):
    "Its flag parses, is typed and documented as the callback says, and reaches the job's settings"
    s, p = SETTINGS[name], anno_parser(cli.main)
    action = next(a for a in p._actions if a.dest == name)
    assert s.doc in action.help and action.default is None
    typ, default, doc = cli.KNOB_PARAMETERS[name]   # read from the callback's source, torch not imported
    assert (default, doc, typ) == (s.default, s.doc, float if isinstance(s.default, float) else str)
    args = {k: v for k, v in vars(p.parse_args(['compare', f'--{name}', as_text(OTHER[name])])).items()
            if k not in ('pdb', 'xtra')}
    assert cli.check_command_line(args)['settings'] == {name: OTHER[name] if isinstance(s.default, float)
                                                        else as_text(OTHER[name])}

@pytest.mark.parametrize('name', KNOBS)
def test_a_knob_can_be_swept(name):
    "`sweep` varies it: its value as the command line types it reaches the run's callback"
    assert name in experiments.SWEEP_PARAMS
    _, (arm, _, _, make) = experiments.sweep_plan(name, [as_text(OTHER[name])], epochs=3,
                                                  settings={k: v for k, v in BASE.items() if k != name})
    assert arm == 'proxy' and getattr(make(0)[0], name) == SETTINGS[name].check(name, OTHER[name])

@pytest.mark.parametrize('name', KNOBS)
def test_a_knob_is_searched_by_tune(name):
    "`tune` draws it: in the default search space, or (a knob that follows the schedule) where a `space` names it"
    import optuna
    space = tune.search_space()
    assert name in space or name in tune.FOLLOWS_SCHEDULE
    entry = space.get(name) or tune.search_entry(name)
    value = entry[1] if entry[0] == 'float' else entry[1][-1]
    s = tune.suggest_settings(optuna.trial.FixedTrial({name: value}), epochs=4, space={name: entry})
    assert name in s and ProxyAttention(**s)

def test_a_new_knob_reaches_the_search_space(monkeypatch):
    "The search space is made from the table: a fraction gets a range, a knob of no known kind is refused by name"
    new = dict(SETTINGS, gamma=Setting('gamma', None, None, 0.3, 'a fraction', True))
    monkeypatch.setattr(tune, 'SETTINGS', new)
    assert tune.search_space()['gamma'] == ('float', 0., 1.)
    monkeypatch.setattr(tune, 'SETTINGS', dict(new, gamma=new['gamma']._replace(default=3)))
    with pytest.raises(ValueError, match="'gamma'"): tune.search_space()

@pytest.fixture(scope='module')
def panel(digits):
    learn = tiny_learner(digits)
    return tuner.ProxyTuner(learn, n=2, arch='resnet18', methods=('gradcam',), method='gradcam')

@pytest.mark.parametrize('name', KNOBS)
def test_a_knob_is_a_control_of_the_tuner(panel, name):
    "A widget per knob, and what it is set to is what the snippet and the comparison get"
    w = getattr(panel, f'w_{name}')
    assert w in panel.controls
    old = w.value
    value = OTHER[name] if name != 'method' else 'gradcam'
    w.value = as_text(value) if name == 'schedule' else 'none' if value is None else value
    got = panel.settings[name]
    try: assert got == SETTINGS[name].check(name, value)
    finally: w.value = old

def proxy_step_output(dls, **settings) -> tuple:
    "What the proxy steps of a 3-epoch fit made: every proxy image (the pool keeps them all) and its label"
    cb = ProxyAttention(**{**BASE, **settings}, seed=0, verbose=False)
    quiet_fit(tiny_learner(dls, seed=0), 3, cbs=[cb], one_cycle=True)
    return cb.pool_x, cb.pool_y, [h['epoch'] for h in cb.history]

@pytest.fixture(scope='module')
def base_output(digits): return proxy_step_output(digits)

def test_the_same_settings_make_the_same_proxy_images(digits, base_output):
    "The control of the test below: two fits at the same settings make the same pool, to the byte"
    x, y, steps = proxy_step_output(digits)
    assert steps == [0, 2] and len(x) and torch.equal(x, base_output[0]) and torch.equal(y, base_output[1])

@pytest.mark.parametrize('name', KNOBS)
def test_each_knob_changes_what_the_proxy_step_makes(digits, base_output, name):
    "Set to another value, each knob changes the proxy images of the fit (or which images, or when they are made)"
    x, y, steps = proxy_step_output(digits, **{name: OTHER[name]})
    same = x.shape == base_output[0].shape and torch.equal(x, base_output[0]) and torch.equal(y, base_output[1])
    assert not same, f"{name}={OTHER[name]!r} made the same proxy images as {BASE.get(name, SETTINGS[name].default)!r}"
