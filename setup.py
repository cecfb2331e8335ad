from setuptools import find_packages, setup

setup(
    name='convnext-backbone',
    version='0.1.0',
    description='ConvNeXt (V1 and V2) backbone for OpenMMLab detection and segmentation',
    packages=find_packages(include=['convnext_backbone', 'convnext_backbone.*']),
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
    extras_require={
        'tests': ['pytest>=8'],
        # tools/export_onnx.py and its test: the exporter and the runtime that checks it.
        'onnx': ['onnx==1.23.2', 'onnxscript==0.7.2', 'onnxruntime==1.31.1'],
    },
)
