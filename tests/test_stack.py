"""The installed stack: the pinned versions, and stock MMDetection running on it unchanged."""
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version

import mmcv
import mmdet
import mmengine
import pytest
import torch
import torchvision


def test_pinned_versions():
    assert torch.__version__.split('+')[0] == '2.14.1'
    assert torchvision.__version__.split('+')[0] == '0.29.1'
    assert (mmcv.__version__, mmengine.__version__, mmdet.__version__) == ('2.1.0', '0.10.7',
                                                                           '3.3.0')
    assert version('mmcv-lite') == '2.1.0'
    with pytest.raises(PackageNotFoundError):  # no compiled mmcv beside it
        version('mmcv')


# Stock mmdet's R50-FPN config, no classicdet part and no custom import: one SGD step on two
# images, then prediction in eval mode, in a fresh interpreter where only mmdet is imported.
STOCK_STEP = r'''
import sys
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.structures import InstanceData
import mmdet, os.path as osp

device = sys.argv[1]
register_all_modules()
path = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', 'faster_rcnn',
                'faster-rcnn_r50_fpn_1x_coco.py')
cfg = Config.fromfile(path)
cfg.model.backbone.init_cfg = None  # nothing downloaded
torch.manual_seed(0)
model = MODELS.build(cfg.model).to(device)
images, samples = [], []
for i in range(2):
    images.append(torch.randint(0, 255, (3, 256, 320), dtype=torch.uint8))
    sample = DetDataSample(metainfo=dict(img_shape=(256, 320), ori_shape=(256, 320),
                                         scale_factor=(1.0, 1.0), pad_shape=(256, 320)))
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[20., 30., 120., 150.], [150., 40., 300., 200.]]),
        labels=torch.tensor([3, 17]))
    samples.append(sample)
data = model.data_preprocessor(dict(inputs=images, data_samples=samples), training=True)
model.train()
losses = model(**data, mode='loss')
loss, _ = model.parse_losses(losses)
loss.backward()
grad = model.roi_head.bbox_head.fc_cls.weight.grad
assert torch.isfinite(loss) and grad is not None and grad.abs().sum() > 0
torch.optim.SGD(model.parameters(), lr=0.01).step()
model.eval()
with torch.no_grad():
    data = model.data_preprocessor(dict(inputs=images, data_samples=samples), training=False)
    results = model(**data, mode='predict')
assert len(results) == 2 and results[0].pred_instances.bboxes.shape[1] == 4
assert not [name for name in sys.modules if name.split('.')[0] == 'custom']
print('ok', device, float(loss), len(results[0].pred_instances))
'''


def run_stock_step(device: str, tmp_path) -> str:
    result = subprocess.run([sys.executable, '-c', STOCK_STEP, device], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_stock_mmdet_faster_rcnn_trains_a_step_and_predicts_on_cpu(tmp_path):
    assert run_stock_step('cpu', tmp_path).startswith('ok cpu ')


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_stock_mmdet_faster_rcnn_trains_a_step_and_predicts_on_cuda(tmp_path):
    assert run_stock_step('cuda', tmp_path).startswith('ok cuda ')


# ----------------------------------------------------------------------------- the package


def test_import_custom_registers_and_adds_no_third_party_module(tmp_path):
    """``import custom`` (what every config's custom_imports does) imports classicdet's
    registering subpackages and nothing from outside that mmdet's own packages do not import
    already (onnx and onnxruntime load only when a model is exported or run); tool logic,
    plotting, evaluation and the course's fundamentals load on use."""
    code = '''
import sys
import mmdet.datasets, mmdet.engine, mmdet.evaluation, mmdet.models, mmdet.visualization
before = set(sys.modules)
import custom
added = set(sys.modules) - before
print(sorted({name.split('.')[0] for name in added}))
print(sorted({name.split('.')[1] for name in added if name.startswith('custom.')}))
print('sklearn' in sys.modules, 'matplotlib.pyplot' in sys.modules)
'''
    out = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert out[0] == "['custom']"
    assert out[1] == "['core', 'datasets', 'deploy', 'engine', 'evaluation', 'inference', 'models']"


def test_a_config_run_loads_checkpoints_through_the_safe_loader(tmp_path):
    """A fresh interpreter that only builds a classicdet config's runner, as any mmengine
    tool does, has the allow-list that lets mmengine's checkpoints load weights-only."""
    code = '''
import torch
from mmengine.config import Config
from mmengine.utils import import_modules_from_strings
cfg = Config.fromfile('configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py')
import_modules_from_strings(**cfg.custom_imports)   # what mmengine's Runner does
import collections
from mmengine.logging import HistoryBuffer
safe = torch.serialization.get_safe_globals()
print(collections.Counter in safe, HistoryBuffer in safe)
'''
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ['True', 'True']


def test_tools_do_not_edit_sys_path(repo_root):
    """The set-up installs the checkout in editable mode, so tools import it as installed."""
    edited = [str(p) for p in (repo_root / 'tools').rglob('*.py')
              if 'sys.path.insert' in p.read_text()]
    assert edited == []
