"scripts/four_questions.py says, question by question, what is measured and what is not there yet"
import os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).parents[1]

def test_each_question_says_what_is_not_measured_yet(tmp_path):
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    r = subprocess.run([sys.executable, str(ROOT/'scripts'/'four_questions.py')], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    for line in ("No canonical runs yet", "Not measured yet: `python scripts/thesis_regime.py vit-ref agreement`",
                 "No fewer-data runs yet", "No explained canonical models yet"):
        assert line in r.stdout
    assert not (tmp_path/'images').exists()   # figures only when asked
