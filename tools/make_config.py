"""Write a fine-tuning config for your own data that inherits one of ours, after checking it.

Entry point; the logic and its usage text are in convnext_cli/make_config.py.
"""
import sys

from convnext_cli.make_config import main

if __name__ == '__main__':
    sys.exit(main())
