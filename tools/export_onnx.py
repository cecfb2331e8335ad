"""Export the backbone to ONNX (dynamic batch and spatial size) and check it with onnxruntime.

Entry point; the logic and its usage text are in convnext_cli/export_onnx.py.
"""
import sys

from convnext_cli.export_onnx import main

if __name__ == '__main__':
    sys.exit(main())
