"""Print the parameter groups (lr multiplier, weight decay, counts) a config's optimizer gets.

Entry point; the logic and its usage text are in convnext_cli/show_param_groups.py.
"""
import sys

from convnext_cli.show_param_groups import main

if __name__ == '__main__':
    sys.exit(main())
