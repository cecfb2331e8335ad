"""tools/train.py, test.py and dist_train.sh on a tiny generated COCO set."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import run_command

from convnext_cli.demo_data.ade import make_ade_demo
from convnext_cli.demo_data.coco import make_coco_demo

from conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / 'configs' / 'demo' / 'maskrcnn_convnext_demo.py'
SEG_DEMO_CONFIG = ROOT / 'configs' / 'demo' / 'upernet_convnext_demo.py'
PYTHON = sys.executable



@pytest.fixture(scope='module')
def tiny_coco(tmp_path_factory):
    return make_coco_demo(str(tmp_path_factory.mktemp('coco')), num_train=8, num_val=4)


def small_config(tmp_path, data_root, **extra):
    """The demo config on the tiny set: 2 iterations per epoch, val after epoch 1."""
    text = [f"_base_ = '{DEMO_CONFIG}'",
            f"data_root = '{data_root}/'",
            "train_dataloader = dict(batch_size=4, dataset=dict(data_root=data_root))",
            "val_dataloader = dict(batch_size=4, dataset=dict(data_root=data_root))",
            "test_dataloader = val_dataloader",
            "val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')",
            "test_evaluator = val_evaluator",
            "train_cfg = dict(max_epochs=1, val_interval=1)",
            "default_hooks = dict(logger=dict(interval=1), "
            "checkpoint=dict(interval=1, max_keep_ckpts=3), visualization=dict(draw=False))"]
    text += [f'{k} = {v}' for k, v in extra.items()]
    path = tmp_path / 'small.py'
    path.write_text('\n'.join(text) + '\n')
    return path


def train_in_process(*argv):
    """``tools/train.py ARGV`` in this process, for runs that must stop before building
    anything: the one-line message it exits with (any other exception fails the test)."""
    from convnext_cli import train
    with pytest.raises(SystemExit) as stop:
        train.main([str(a) for a in argv])
    return str(stop.value)


def run_tool(*args, env=None):
    return run_command(*args, env=env, timeout=600)


@pytest.mark.e2e
def test_train_two_iterations_val_then_resume_and_test(tiny_coco, tmp_path):
    config = small_config(tmp_path, tiny_coco)
    work = tmp_path / 'work'
    result, log = run_tool(PYTHON, 'tools/train.py', str(config), '--work-dir', str(work))
    assert result.returncode == 0, log[-3000:]
    assert 'Epoch(train) [1][2/2]' in log
    assert 'coco/bbox_mAP' in log and 'coco/segm_mAP' in log
    assert (work / 'epoch_1.pth').is_file()

    # Interrupted after epoch 1; resumed with a longer schedule it continues at iter 3.
    result, log = run_tool(PYTHON, 'tools/train.py', str(config), '--work-dir', str(work),
                           '--resume', '--cfg-options', 'train_cfg.max_epochs=2')
    assert result.returncode == 0, log[-3000:]
    assert 'resumed epoch: 1, iter: 2' in log
    assert 'Epoch(train) [2][2/2]' in log and 'Epoch(train) [1]' not in log
    state = torch.load(work / 'epoch_2.pth', weights_only=True)
    assert state['meta']['iter'] == 4 and state['meta']['epoch'] == 2

    result, log = run_tool(PYTHON, 'tools/test.py', str(config), str(work / 'epoch_2.pth'),
                           '--work-dir', str(tmp_path / 'test'))
    assert result.returncode == 0, log[-3000:]
    assert 'coco/segm_mAP' in log


def test_missing_dataset_stops_before_building(tmp_path):
    config = small_config(tmp_path, tmp_path / 'no_such_data')
    log = train_in_process(config, '--work-dir', tmp_path / 'work')
    assert 'Dataset not found' in log
    assert f'{tmp_path}/no_such_data/annotations/instances_train.json' in log
    assert 'train_dataloader.dataset.data_root=/path/to/data/' in log
    assert not (tmp_path / 'work').exists()


def suggested_command(log):
    lines = log.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('Or point the config'))
    return lines[start + 1]


@pytest.mark.parametrize('config,layout', [
    ('configs/maskrcnn_convnext_t.py', ['train2017/', 'val2017/',
                                        'annotations/instances_train2017.json',
                                        'annotations/instances_val2017.json']),
    ('configs/upernet_convnext_t.py', ['images/training/', 'images/validation/',
                                       'annotations/training/', 'annotations/validation/']),
])
def test_missing_dataset_message_gives_a_command_that_works(config, layout, tmp_path,
                                                           monkeypatch):
    """The suggested command, with the placeholder replaced by a folder laid out as COCO
    (ADE20K), gets past the dataset check (to the missing pretrained file, here)."""
    monkeypatch.chdir(ROOT)  # the command names the config as given, relative to the repo
    log = train_in_process(config, '--work-dir', tmp_path / 'first')
    assert 'Dataset not found' in log
    command = suggested_command(log).strip()
    assert command.startswith(f'python tools/train.py {config} --cfg-options ')
    options = command.split('--cfg-options ')[1].split()
    assert len({o.split('=')[0] for o in options}) == len(options)  # no key twice
    for path in layout:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).mkdir() if path.endswith('/') else (tmp_path / path).touch()
    args = command.replace('/path/to/data/', f'{tmp_path}/').split()[2:]  # after the tool
    log = train_in_process(*args, '--work-dir', tmp_path / 'work')
    assert 'Dataset not found' not in log, log[-2000:]
    assert 'Pretrained checkpoint not found' in log


def test_missing_coco_for_the_real_config(tmp_path):
    log = train_in_process(ROOT / 'configs/maskrcnn_convnext_t.py', '--work-dir',
                           tmp_path / 'work', '--cfg-options',
                           f'train_dataloader.dataset.data_root={tmp_path}/coco/')
    assert 'Dataset not found' in log and 'cocodataset.org' in log


def test_missing_pretrained_checkpoint_is_named(tiny_coco, tmp_path):
    config = small_config(
        tmp_path, tiny_coco,
        model="dict(backbone=dict(init_cfg=dict(type='Pretrained', "
              "checkpoint='checkpoints/nope.pth')))")
    log = train_in_process(config, '--work-dir', tmp_path / 'work')
    assert 'Pretrained checkpoint not found: checkpoints/nope.pth' in log


@pytest.mark.e2e
def test_dist_train_on_two_nodes(tiny_coco, tmp_path):
    """tools/dist_train.sh as a two-node job on this machine: two invocations with NNODES=2,
    NODE_RANK 0 and 1 and MASTER_ADDR 127.0.0.1, one process each (two cores); the two
    ranks train together and only global rank 0 writes the checkpoint."""

    config = small_config(
        tmp_path, tiny_coco,
        train_dataloader='dict(batch_size=2, dataset=dict(data_root=data_root))',
        custom_hooks="[dict(type='RankProgressHook', interval=1)]",
        val_cfg='None', val_dataloader='None', val_evaluator='None',
        test_cfg='None', test_dataloader='None', test_evaluator='None')
    env = {**os.environ, 'NNODES': '2', 'MASTER_ADDR': '127.0.0.1', 'PORT': str(free_port()),
           'PYTHON': PYTHON, 'OMP_NUM_THREADS': '1'}
    nodes = [subprocess.Popen(['tools/dist_train.sh', str(config), '1', '--work-dir',
                               str(tmp_path / f'node{node}')], cwd=ROOT, text=True,
                              env={**env, 'NODE_RANK': str(node)}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT) for node in (0, 1)]
    logs = [node.communicate(timeout=600)[0] for node in nodes]
    for node, log in zip(nodes, logs):
        assert node.returncode == 0, log[-3000:]
    # 8 images, 2 per rank, 2 ranks: two iterations; node N holds rank N.
    for node, log in enumerate(logs):
        assert f'[rank {node}/2] iter 2/2' in log, log[-3000:]
    assert (tmp_path / 'node0' / 'epoch_1.pth').is_file()
    assert not (tmp_path / 'node1' / 'epoch_1.pth').exists()


#: srun and scontrol as a two-node allocation (one task per node) sets them up: each
#: task gets SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NODEID and SLURM_NODELIST;
#: scontrol names the nodes (here both are this machine).
FAKE_SRUN = r"""#!/usr/bin/env bash
while [[ $1 == -* ]]; do
  case $1 in
    -p) shift 2 ;;
    --ntasks=*) NTASKS=${1#*=}; shift ;;
    --ntasks-per-node=*) PER_NODE=${1#*=}; shift ;;
    *) shift ;;
  esac
done
pids=()
for ((rank = 0; rank < NTASKS; rank++)); do
  SLURM_PROCID=$rank SLURM_NTASKS=$NTASKS SLURM_LOCALID=$((rank % PER_NODE)) \
  SLURM_NODEID=$((rank / PER_NODE)) SLURM_NNODES=$((NTASKS / PER_NODE)) \
  SLURM_NODELIST='node[01-02]' "$@" > "$TASK_LOGS/task$rank.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
"""
FAKE_SCONTROL = """#!/usr/bin/env bash
[ "$1 $2 $3" = 'show hostnames node[01-02]' ] && printf 'localhost\nlocalhost\n'
"""


@pytest.mark.e2e
def test_slurm_train_on_a_two_node_allocation(tiny_coco, tmp_path):
    """tools/slurm_train.sh under a two-node allocation's srun (GPUS=2, GPUS_PER_NODE=1):
    train.py's slurm launcher takes rank, world size and the master node from slurm's
    variables and scontrol, as mmengine's does on GPUs."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name, text in (('srun', FAKE_SRUN), ('scontrol', FAKE_SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    config = small_config(
        tmp_path, tiny_coco,
        train_dataloader='dict(batch_size=2, dataset=dict(data_root=data_root))',
        custom_hooks="[dict(type='RankProgressHook', interval=1)]",
        val_cfg='None', val_dataloader='None', val_evaluator='None',
        test_cfg='None', test_dataloader='None', test_evaluator='None')
    result, log = run_tool('tools/slurm_train.sh', 'partition', 'job', config,
                           tmp_path / 'work', env={
                               'PATH': f'{bin_dir}:{os.environ["PATH"]}', 'GPUS': '2',
                               'GPUS_PER_NODE': '1', 'TASK_LOGS': str(tmp_path),
                               'MASTER_PORT': str(free_port()), 'PYTHON': PYTHON,
                               'OMP_NUM_THREADS': '1'})
    logs = [(tmp_path / f'task{rank}.log').read_text() for rank in (0, 1)]
    assert result.returncode == 0, log + logs[0][-3000:] + logs[1][-3000:]
    for rank, task_log in enumerate(logs):
        assert f'[rank {rank}/2] iter 2/2' in task_log, task_log[-3000:]
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()


@pytest.mark.e2e
def test_segmentation_two_iterations_and_sliding_window_val(tmp_path):
    data_root = make_ade_demo(str(tmp_path / 'ade'), num_train=4, num_val=2)
    config = tmp_path / 'seg_small.py'
    config.write_text('\n'.join([
        f"_base_ = '{SEG_DEMO_CONFIG}'",
        f"train_dataloader = dict(batch_size=2, dataset=dict(data_root='{data_root}'))",
        f"val_dataloader = dict(dataset=dict(data_root='{data_root}'))",
        "test_dataloader = val_dataloader",
        "train_cfg = dict(max_iters=2, val_interval=2)",
        "default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))",
    ]) + '\n')
    result, log = run_tool(PYTHON, 'tools/train.py', str(config), '--work-dir',
                           str(tmp_path / 'work'))
    assert result.returncode == 0, log[-3000:]
    assert 'Iter(train) [2/2]' in log
    assert 'mIoU' in log and 'Iter(val) [2/2]' in log


def test_missing_ade20k_for_the_real_config(tmp_path):
    log = train_in_process(ROOT / 'configs/upernet_convnext_t.py', '--work-dir',
                           tmp_path / 'work', '--cfg-options',
                           f'train_dataloader.dataset.data_root={tmp_path}/ade',
                           f'val_dataloader.dataset.data_root={tmp_path}/ade')
    assert 'Dataset not found' in log and 'ADEChallengeData2016' in log
    assert f'{tmp_path}/ade/images/training' in log


@pytest.mark.parametrize('command,extra', [
    ('train', []), ('test', ['model.pth']), ('get_flops', []), ('show_param_groups', []),
    ('draw_predictions', ['model.pth', 'a.png', '--out', 'x.png']),
    ('make_config', ['--out', 'mine.py'])])
def test_a_missing_config_is_one_line_naming_it(command, extra, tmp_path, capsys):
    """Each command that reads a config answers a wrong path with one line, no traceback."""
    import importlib
    main = importlib.import_module(f'convnext_cli.{command}').main
    missing = str(tmp_path / 'does_not_exist.py')
    with pytest.raises(SystemExit) as exit_info:
        main([missing] + extra)
    message = str(exit_info.value)
    assert f'{command}.py: error: config file {missing!r} not found' in message
    assert '\n' not in message
