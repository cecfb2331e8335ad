"""Draw a trained model's predictions on a few images into one PNG (the libraries' visualizers).

Entry point; the logic and its usage text are in convnext_cli/draw_predictions.py.
"""
import sys

from convnext_cli.draw_predictions import main

if __name__ == '__main__':
    sys.exit(main())
