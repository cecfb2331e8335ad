from setuptools import find_packages, setup

setup(
    name='convnext-backbone',
    version='0.1.0',
    description='ConvNeXt (V1 and V2) backbone for OpenMMLab detection and segmentation',
    # The library (convnext_backbone) and the command-line application (convnext_cli).
    packages=find_packages(include=['convnext_backbone', 'convnext_backbone.*',
                                    'convnext_cli', 'convnext_cli.*']),
    python_requires='>=3.10',
    # The core (backbone, checkpoint loading, layer decay, feature extraction) needs only
    # these. Lower bounds, not pins: the exact versions of the development environment are
    # in requirements/verified.txt (README: "Use it in your own environment").
    # The lower bounds were tested: the core tests pass with torch 2.6.0, numpy 1.26.4,
    # mmengine 0.10.7 and Pillow 9.5.0 (torch 2.5 lacks the safe-loading aliases; mmengine
    # 0.10.0 does not resume the same losses).
    install_requires=[
        'torch>=2.6',
        'numpy>=1.26',
        'mmengine>=0.10.7',
        'Pillow>=9.5',
    ],
    entry_points={'console_scripts': [
        # The commands people run outside a checkout; train/test stay tools/*.py.
        'convnext-extract-features = convnext_cli.extract_features:main',
        'convnext-convert-checkpoint = convnext_cli.convert_checkpoint:main',
        'convnext-flops = convnext_cli.get_flops:main',
    ]},
    extras_require={
        # Detection and segmentation: mmdet 3.x / mmseg 1.x need mmcv 2.0-2.1 with its ops.
        'det': ['mmcv>=2.0.0rc4,<2.2.0', 'mmdet>=3.0,<4', 'pycocotools'],
        # mmseg imports ftfy and regex in mmseg/utils/tokenizer.py without declaring them.
        'seg': ['mmcv>=2.0.0rc4,<2.2.0', 'mmsegmentation>=1.0,<2', 'ftfy', 'regex'],
        # tools/export_onnx.py and its test: the exporter and the runtime that checks it.
        'onnx': ['onnx>=1.15', 'onnxscript>=0.1', 'onnxruntime>=1.16'],
        # tools/extract_features.py --format safetensors; reading .safetensors checkpoints.
        'safetensors': ['safetensors>=0.4'],
        'tests': ['pytest>=8', 'pytest-timeout>=2.1', 'ruff>=0.6'],
    },
)
