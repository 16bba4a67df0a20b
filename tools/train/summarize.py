"""Prints the markdown summary of the training curves and of the PyTorch evaluation for README.md.
Usage: /usr/bin/python3 tools/train/summarize.py"""
import csv
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CURVES = os.path.join(HERE, 'curves')


def rows(name):
    path = os.path.join(CURVES, name)
    return list(csv.DictReader(open(path))) if os.path.exists(path) else []


out = []
for name, label in [('generator.csv', 'generator')]:
    r = [x for x in rows(name) if x['val_loss']]
    if r:
        out.append(f'- {label} (`curves/{name}`), validation loss (solution tokens) by step: '
                   + ', '.join(f"{x['step']}: {float(x['val_loss']):.3f}" for x in r)
                   + f"; {r[-1]['tokens']} loss tokens, {r[-1]['elapsed_s']} s.")
r = [x for x in rows('prm.csv') if x['heldout_auc']]
if r:
    out.append('- PRM (`curves/prm.csv`), held-out step ROC AUC by step: '
               + ', '.join(f"{x['step']}: {float(x['heldout_auc']):.3f}" for x in r)
               + f"; final train BCE {float(r[-1]['train_bce']):.3f}, {r[-1]['elapsed_s']} s.")
print('\n'.join(out))
print()
ev = os.path.join(CURVES, 'eval.json')
if os.path.exists(ev):
    e = json.load(open(ev))
    keys = [k for k in e if isinstance(e[k], dict) and 'accuracy' in e[k]]
    levels = sorted(e[keys[0]]['by_difficulty'])
    print('| method | accuracy | ' + ' | '.join(f'level {lv}' for lv in levels) + ' |')
    print('|---|---|' + '---|' * len(levels))
    for k in keys:
        print(f"| {k} | {e[k]['accuracy']:.3f} | " + ' | '.join(f"{e[k]['by_difficulty'].get(lv, 0):.2f}" for lv in levels) + ' |')
