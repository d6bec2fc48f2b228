import warnings, pytest, torch
warnings.filterwarnings('ignore', category=UserWarning)
warnings.filterwarnings('ignore', category=FutureWarning)
torch.set_num_threads(max(1, torch.get_num_threads()))

@pytest.fixture(scope='session')
def digits():
    "A small slice of the real digits data, 32px, so fits take seconds"
    from proxy_attention.data import digits_dls
    return digits_dls(size=32, bs=32, n=160, num_workers=0)

@pytest.fixture(scope='session')
def digits64():
    from proxy_attention.data import digits_dls
    return digits_dls(size=64, bs=32, n=192, num_workers=0)
