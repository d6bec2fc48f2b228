"""`tune` on a real PostgreSQL server: two `proxy-attention tune` processes, as two machines run them, on one study over
TCP, one of them killed mid-trial; and the command line without the database driver.

The server's URL (a role with a password, a database) comes from PROXY_ATTENTION_TEST_PG: `.ci/run` starts Debian's
PostgreSQL and sets it. Without it, without the driver (`pip install -e ".[postgres]"`) or without a server that
answers, the server test skips."""
import os, signal, subprocess, sys, time, uuid, pytest
from pathlib import Path
from conftest import console_script
from proxy_attention.tune import mask_url

URL = os.environ.get('PROXY_ATTENTION_TEST_PG')
ROOT = Path(__file__).parents[1]
ENV = {**os.environ, 'PYTHONPATH': str(ROOT), 'PYTHONUNBUFFERED': '1', 'OMP_NUM_THREADS': '1'}
GRACE = 4   # seconds without a heartbeat before a worker counts as dead (tune's default, 180, is for real studies)
# the console script, with heartbeats every second: a killed worker is noticed in seconds, not minutes
WORKER = f"import proxy_attention.tune as t\nt.HEARTBEAT.update(interval=1, grace={GRACE})\n" + console_script()

@pytest.fixture(scope='module')
def server() -> str:
    "The URL of a PostgreSQL server that answers over TCP with a password, or a skip that says why there is none"
    if not URL: pytest.skip('PROXY_ATTENTION_TEST_PG is not set (.ci/run starts a PostgreSQL server and sets it)')
    psycopg = pytest.importorskip('psycopg', reason='no PostgreSQL driver: pip install -e ".[postgres]"')
    from sqlalchemy.engine import make_url
    try: psycopg.connect(make_url(URL).set(drivername='postgresql').render_as_string(False), connect_timeout=5).close()
    except psycopg.OperationalError as e: pytest.skip(f"PostgreSQL at {mask_url(URL)} does not answer: {e}")
    return URL

def test_two_machines_share_a_study_and_a_killed_workers_trial_runs_again(server, tmp_path):
    optuna = pytest.importorskip('optuna')
    from optuna.trial import TrialState
    from sqlalchemy.engine import make_url
    from proxy_attention.tune import open_storage, finished_trials, n_counted
    name, trials = f"two-machines-{uuid.uuid4().hex[:8]}", 5
    (tmp_path/'proxy-attention').write_text(WORKER)
    def start(machine):
        argv = ['tune', '--data', 'digits', '--n', '100', '--size', '64', '--bs', '32', '--epochs', '3', '--trials',
                str(trials), '--storage', server, '--study', name, '--out', str(tmp_path/f'report-{machine}')]
        with open(tmp_path/f'stdout-{machine}', 'w') as out, open(tmp_path/f'stderr-{machine}', 'w') as err:
            return subprocess.Popen([sys.executable, str(tmp_path/'proxy-attention'), *argv], cwd=tmp_path, env=ENV,
                                    stdout=out, stderr=err)
    storage = open_storage(server)   # what a third machine reads of the study
    a, b = start('a'), start('b')
    def of(proc, trials): return [t for t in trials if t.user_attrs.get('worker', '').endswith(f':{proc.pid}')]
    try:
        dead, deadline = None, time.monotonic() + 400
        while dead is None:   # a's second trial, one epoch trained: a has finished a trial and is mid-trial
            assert time.monotonic() < deadline and a.poll() is None and b.poll() is None, 'no worker got mid-trial'
            time.sleep(0.2)
            try: mine = of(a, optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False))
            except KeyError: continue   # no study yet
            if any(t.state.is_finished() for t in mine):
                dead = next((t for t in mine if t.state == TrialState.RUNNING and t.intermediate_values), None)
        a.send_signal(signal.SIGKILL)   # a machine lost: no Ctrl-C, no clean-up, its trial left running
        # b held past the grace period, as a slower machine would still be training: it must find a's trial dead
        b.send_signal(signal.SIGSTOP); time.sleep(GRACE + 2); b.send_signal(signal.SIGCONT)
        assert b.wait(timeout=400) == 0, (tmp_path/'stderr-b').read_text()[-3000:]
        assert a.wait(timeout=10) == -signal.SIGKILL
        study = optuna.load_study(study_name=name, storage=storage)
        ts = study.trials
        assert [t.number for t in ts if t.state == TrialState.FAIL] == [dead.number]   # the killed trial failed
        retries = [t for t in ts if 'retry_of' in t.user_attrs]
        assert [t.user_attrs['retry_of'] for t in retries] == [dead.number]   # queued again, once
        assert retries[0].params == dead.params and retries[0].state.is_finished() and of(b, retries)
        # the study complete: `trials` finished and counted, the killed one not among them, nothing twice
        assert len(ts) == trials + 1 and n_counted(study) == len(finished_trials(study)) == trials
        assert dead.number not in [t.number for t in finished_trials(study)]
        assert of(a, finished_trials(study)) and of(b, finished_trials(study))   # both machines trained the study
        # the password in no output and no file: logs, the report's table, best settings and figures
        password = make_url(server).password
        written = [p for p in tmp_path.rglob('*') if p.is_file() and p.name != 'proxy-attention']
        assert len(written) == 8 and [p for p in written if password.encode() in p.read_bytes()] == []
        out_b = (tmp_path/'stdout-b').read_text()
        assert f"study '{name}' in {mask_url(server)}: " in out_b and ':***@' in mask_url(server)
        assert sorted(p.name for p in (tmp_path/'report-b').iterdir()) == ['best.txt', 'history.png', 'importance.png',
                                                                          'trials.csv']
        assert len((tmp_path/'report-b'/'trials.csv').read_text().splitlines()) == trials + 2   # a header, each trial
    finally:
        for p in (a, b):
            if p.poll() is None: p.send_signal(signal.SIGCONT); p.kill(); p.wait()
        try: optuna.delete_study(study_name=name, storage=storage)
        except KeyError: pass

BLOCK = 'import sys\nsys.modules["psycopg"] = None   # as if the driver were not installed: its import fails\n'

def test_without_the_driver_one_line_names_the_extra(tmp_path):
    "No psycopg: one line that names the extra to install, exit status 2, before anything is loaded or written"
    (tmp_path/'block').mkdir(); (tmp_path/'block'/'sitecustomize.py').write_text(BLOCK)
    (tmp_path/'proxy-attention').write_text(console_script())
    r = subprocess.run([sys.executable, str(tmp_path/'proxy-attention'), 'tune', '--storage',
                        'postgresql://pa:s3cret@127.0.0.1:5432/studies', '--out', str(tmp_path/'report')],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path,
                       env={**ENV, 'PYTHONPATH': f"{tmp_path/'block'}{os.pathsep}{ROOT}"})
    assert (r.returncode, r.stdout) == (2, ''), r.stderr[-3000:]   # no "proxy-attention tune: ..." line: nothing loaded
    assert r.stderr == ("proxy-attention: error: --storage 'postgresql://pa:***@127.0.0.1:5432/studies' needs the "
                        'database driver psycopg, which is not installed: pip install -e ".[postgres]" in the '
                        'proxy_attention checkout, or pip install "psycopg[binary]"\n')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['block', 'proxy-attention']
