from setuptools import find_packages, setup

setup(
    name='convnext-backbone',
    version='0.1.0',
    description='ConvNeXt (V1 and V2) backbone for OpenMMLab detection and segmentation',
    # The library (convnext_backbone) and the command-line application (convnext_cli).
    packages=find_packages(include=['convnext_backbone', 'convnext_backbone.*',
                                    'convnext_cli', 'convnext_cli.*']),
    python_requires='>=3.10',
    install_requires=[
        'torch==2.13.0',
        'numpy>=1.24',
        'mmengine==0.10.7',
        'mmcv==2.1.0',
        'mmdet==3.3.0',
        'mmsegmentation==1.2.2',
        # mmseg imports these in mmseg/utils/tokenizer.py without declaring them.
        'ftfy',
        'regex',
    ],
    entry_points={'console_scripts': [
        # The commands people run outside a checkout; train/test stay tools/*.py.
        'convnext-extract-features = convnext_cli.extract_features:main',
        'convnext-convert-checkpoint = convnext_cli.convert_checkpoint:main',
        'convnext-flops = convnext_cli.get_flops:main',
    ]},
    extras_require={
        'tests': ['pytest>=8', 'ruff==0.17.6'],
        # tools/export_onnx.py and its test: the exporter and the runtime that checks it.
        'onnx': ['onnx==1.23.2', 'onnxscript==0.7.2', 'onnxruntime==1.31.1'],
        # tools/extract_features.py --format safetensors.
        'safetensors': ['safetensors>=0.4'],
    },
)
