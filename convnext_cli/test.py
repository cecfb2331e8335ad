"""Evaluate a checkpoint with a detection or segmentation config (mmdet's/mmseg's CLI).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out PATH] [--show-dir DIR]
        [--tta] [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]

CHECKPOINT is a file or an http(s) URL (downloaded once into torch's hub cache). The
options mean what they mean in mmdet's and mmseg's own ``tools/test.py``:

- ``--out``: detection, a ``.pkl`` of the raw predictions (mmdet's ``DumpDetResults``);
  segmentation, a folder for the predicted label maps (``IoUMetric(output_dir=...)``).
- ``--show-dir``: draw the predictions of every image with the library's visualizer
  (mmdet: under the work dir's timestamped folder, as mmdet does; mmseg: into that
  folder's ``vis_data/``).
- ``--tta``: test-time augmentation through the config's ``tta_model`` and
  ``tta_pipeline`` (mmdet's ``DetTTAModel`` with a flip pipeline when the config has
  none; mmseg's ``SegTTAModel`` with the dataset's multi-scale pipeline).
"""
import argparse
import copy
import os.path as osp

from mmengine.config import ConfigDict
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from convnext_backbone import CheckpointError
from convnext_backbone.checkpoint import download

from .arguments import add_common_args, inner_model, load_config
from .preflight import check_datasets, prepare_cpu_distributed


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a detector or a segmentor')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file or http(s) URL')
    parser.add_argument('--out', help='detection: dump the predictions to this .pkl; '
                                      'segmentation: save the predicted maps in this folder')
    parser.add_argument('--show-dir', help='draw the predictions into this folder')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation')
    add_common_args(parser)
    return parser.parse_args(argv)


def enable_drawing(cfg, show_dir: str, scope: str) -> None:
    hooks = cfg.default_hooks
    if 'visualization' not in hooks:
        raise SystemExit('--show-dir needs default_hooks.visualization in the config '
                         "(e.g. dict(type='DetVisualizationHook')).")
    hooks.visualization['draw'] = True
    if scope == 'mmdet':
        hooks.visualization['test_out_dir'] = show_dir
    else:  # mmseg's hook draws every 50th image by default; here every image, as mmdet's
        cfg.visualizer['save_dir'] = show_dir
        hooks.visualization['interval'] = 1


def enable_tta(cfg, scope: str) -> None:
    if cfg.model.get('type') in ('DetTTAModel', 'SegTTAModel'):
        return  # the config is a test-time-augmentation one already
    if scope == 'mmdet':
        if (cfg.model.get('roi_head') or {}).get('mask_head'):
            raise SystemExit("--tta: mmdet's DetTTAModel merges boxes only and refuses "
                             'instance masks ("TTA of instance segmentation does not '
                             'support now"), and this model predicts masks. Test without '
                             '--tta, or with the mask head removed (--cfg-options '
                             'model.roi_head.mask_head=None model.roi_head.mask_roi_extractor'
                             "=None test_evaluator.metric=bbox).")
        cfg.setdefault('tta_model', dict(type='DetTTAModel', tta_cfg=dict(
            nms=dict(type='nms', iou_threshold=0.5), max_per_img=100)))
        if 'tta_pipeline' not in cfg:  # mmdet's default: the test pipeline, flipped or not
            dataset = cfg.test_dataloader.dataset
            while 'dataset' in dataset:
                dataset = dataset['dataset']
            pipeline = copy.deepcopy(dataset.pipeline)
            pipeline[-1] = dict(type='TestTimeAug', transforms=[
                [dict(type='RandomFlip', prob=1.), dict(type='RandomFlip', prob=0.)],
                [dict(type='PackDetInputs', meta_keys=(
                    'img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                    'flip_direction'))]])
            cfg.tta_pipeline = pipeline
    elif 'tta_pipeline' not in cfg or 'tta_model' not in cfg:
        raise SystemExit('--tta needs tta_model and tta_pipeline in a segmentation config '
                         "(mmseg's dataset bases define tta_pipeline; default_runtime "
                         'defines tta_model).')
    module = cfg.model
    if 'tta_test_cfg' in cfg:  # how the recipe tests each scale (ours: whole images)
        module.test_cfg = cfg.tta_test_cfg
    cfg.model = ConfigDict(**cfg.tta_model, module=module)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args, 'test.py')
    scope = cfg.get('default_scope', 'mmdet')
    checkpoint = args.checkpoint
    if checkpoint.startswith(('http://', 'https://')):
        try:
            checkpoint = download(checkpoint)
        except CheckpointError as err:
            raise SystemExit(str(err))
    if not osp.isfile(checkpoint):
        raise SystemExit(f'Checkpoint not found: {checkpoint}')
    cfg.load_from = checkpoint
    check_datasets(cfg, ('test',), f'python tools/test.py {args.config} {args.checkpoint}')
    prepare_cpu_distributed(cfg)
    # The checkpoint holds every weight: skip the backbone's pretrained init.
    model = inner_model(cfg)
    if model.get('backbone', {}).get('init_cfg'):
        model.backbone.init_cfg = None
    if args.show_dir:
        enable_drawing(cfg, args.show_dir, scope)
    if args.tta:
        enable_tta(cfg, scope)
    if args.out and scope != 'mmdet':  # mmseg: a folder of predicted label maps
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    if args.out and scope == 'mmdet':
        if not args.out.endswith(('.pkl', '.pickle')):
            raise SystemExit(f'--out {args.out}: detection results are dumped as a .pkl file.')
        from mmdet.evaluation import DumpDetResults
        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
    runner.test()


if __name__ == '__main__':
    main()
