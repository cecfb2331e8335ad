"""Write the embedded demo data sets (seeded, generated, nothing downloaded).

Entry point; the logic and its usage text are in convnext_cli/make_demo_data.py.
"""
import sys

from convnext_cli.make_demo_data import main

if __name__ == '__main__':
    sys.exit(main())
