"""The arithmetic task's steps in Python, the same rules as src/tasks/arithmetic.ts: a flat chain of + - *
reduced leftmost `*` first (else leftmost operation), each step `a op b = c; rest`, then the boxed answer.
Since every point of a solution has exactly one right next step, a step is right when it equals it, and a
token is right when the step so far is a prefix of it. Also: wrong steps of the kinds the generator makes,
to train the verifier on pairs matched on their prefix."""
import random
import re

_EXPR = re.compile(r'\d[\d\s+*-]*\d|\d')
FINAL = 'The answer is \\boxed{%s}.'


def parse_chain(text):
    text = re.sub(r'\s+', '', text)
    if not re.fullmatch(r'\d+(?:[-+*]\d+)*', text):
        return None
    return [int(t) if i % 2 == 0 else t for i, t in enumerate(re.findall(r'\d+|[-+*]', text))]


def problem_chain(problem):
    m = _EXPR.search(problem)
    return parse_chain(m.group(0)) if m else None


def render(chain):
    return ''.join(str(t) for t in chain)


def apply(a, op, b):
    return a + b if op == '+' else a - b if op == '-' else a * b


def step_text(a, op, b, value, rest):
    return f'{a}{op}{b}={value}' + (f'; {render(rest)}' if len(rest) > 1 else '')


def next_step(chain):
    """(text, rest) of the one right next step of a chain of two or more numbers."""
    i = chain.index('*') if '*' in chain else 1
    a, op, b = chain[i - 1], chain[i], chain[i + 1]
    value = apply(a, op, b)
    rest = chain[:i - 1] + [value] + chain[i + 2:]
    return step_text(a, op, b, value, rest), rest


def reference_steps(chain):
    steps = []
    while len(chain) > 1:
        text, chain = next_step(chain)
        steps.append(text)
    return steps + [FINAL % chain[0]]


def right_steps_count(problem, steps):
    """How many leading steps equal the reference steps (then the rest are wrong: the search is off track)."""
    ref = reference_steps(problem_chain(problem))
    n = 0
    while n < len(steps) and n < len(ref) and steps[n].strip() == ref[n]:
        n += 1
    return n


def step_labels(problem, steps):
    n = right_steps_count(problem, steps)
    return [i < n for i in range(len(steps))]


def chain_after(problem, k):
    """The chain left after k right steps."""
    chain = problem_chain(problem)
    for _ in range(k):
        if len(chain) > 1:
            chain = next_step(chain)[1]
    return chain


def _other_value(rng, v, lo=0, hi=20):
    choices = [v + d for d in (-3, -2, -1, 1, 2, 3, 10, -10) if lo <= v + d <= 99 and v + d != v]
    if rng.random() < 0.3:
        choices = [x for x in range(lo, hi + 1) if x != v]
    return rng.choice(choices)


def _mutate_chain(rng, chain):
    """A copy error in a restated chain: a number or an operation changed, a term dropped, doubled or swapped."""
    c = list(chain)
    kind = rng.choice(['number', 'number', 'op', 'drop', 'double', 'swap'])
    nums = list(range(0, len(c), 2))
    if kind == 'number' or len(c) < 3:
        i = rng.choice(nums)
        c[i] = _other_value(rng, c[i], 0, 9)
    elif kind == 'op':
        i = rng.choice(range(1, len(c), 2))
        c[i] = rng.choice([o for o in '+-*' if o != c[i]])
    elif kind == 'drop':
        i = rng.choice(range(1, len(c), 2))
        del c[i:i + 2]
    elif kind == 'double':
        i = rng.choice(range(1, len(c), 2))
        c[i:i] = c[i:i + 2]
    else:
        i = rng.choice(nums[:-1])
        c[i], c[i + 2] = c[i + 2], c[i]
    return c


KINDS = ['result', 'result', 'result_rest', 'operand', 'copy', 'copy', 'copy', 'order', 'stale', 'cut', 'answer']


def wrong_step(rng, chain, kinds=KINDS):
    """A wrong next step for `chain` (two or more numbers), of one of the kinds a sampling generator makes
    (drawn from `kinds`, a list in which a kind may repeat to weight it up)."""
    right, rest = next_step(chain)
    i = chain.index('*') if '*' in chain else 1
    a, op, b = chain[i - 1], chain[i], chain[i + 1]
    value = apply(a, op, b)
    for _ in range(20):
        kind = rng.choice(kinds)
        if kind == 'result':  # a wrong result, carried into the restated chain
            w = _other_value(rng, value)
            text = step_text(a, op, b, w, chain[:i - 1] + [w] + chain[i + 2:])
        elif kind == 'result_rest':  # right result, restated wrongly
            w = _other_value(rng, value)
            text = step_text(a, op, b, value, chain[:i - 1] + [w] + chain[i + 2:])
        elif kind == 'operand':  # an operand misread
            a2, b2 = (_other_value(rng, a, 1, 9), b) if rng.random() < 0.5 else (a, _other_value(rng, b, 1, 9))
            v2 = apply(a2, op, b2)
            text = step_text(a2, op, b2, v2, chain[:i - 1] + [v2] + chain[i + 2:])
        elif kind == 'copy':
            text = step_text(a, op, b, value, _mutate_chain(rng, rest)) if len(rest) > 1 else None
        elif kind == 'order':  # another operation reduced first (precedence or position ignored)
            others = [j for j in range(1, len(chain), 2) if j != i]
            if not others:
                continue
            j = rng.choice(others)
            v = apply(chain[j - 1], chain[j], chain[j + 1])
            text = step_text(chain[j - 1], chain[j], chain[j + 1], v, chain[:j - 1] + [v] + chain[j + 2:])
        elif kind == 'stale':  # the chain restated as it was before the step
            text = step_text(a, op, b, value, chain)
        elif kind == 'cut':  # the restated chain left out, or cut short
            text = f'{a}{op}{b}={value}' if len(rest) > 1 else None
        else:  # an answer before the chain is reduced
            text = FINAL % rng.choice([value, chain[0], _other_value(rng, value)])
        if text and text != right:
            return text
    return FINAL % _other_value(rng, value)


def wrong_final(rng, value):
    return FINAL % _other_value(rng, value)


def wrong_next(rng, chain, kinds=KINDS):
    """A wrong step for any point of a solution: before the answer, or a wrong answer."""
    return wrong_final(rng, chain[0]) if len(chain) == 1 else wrong_step(rng, chain, kinds)


def _self_check():
    chain = parse_chain('3+4*5-2')
    assert reference_steps(chain) == ['4*5=20; 3+20-2', '3+20=23; 23-2', '23-2=21', FINAL % 21], reference_steps(chain)
    rng = random.Random(0)
    for _ in range(2000):
        w = wrong_step(rng, chain)
        assert w != reference_steps(chain)[0]


_self_check()


_STEP = re.compile(r'^(\d+)([-+*])(\d+)=(\d+)(?:; (.*))?$')


def error_kind(chain, step):
    """What is wrong with a step written at `chain` (for reports): 'right', 'answer' (an answer step, early
    or wrong), 'order' (not the operation due next), 'result' (its value), 'copy' (the restated chain),
    'format' (not a step at all)."""
    right, rest = next_step(chain) if len(chain) > 1 else (FINAL % chain[0], chain)
    if step == right:
        return 'right'
    if step.startswith('The answer'):
        return 'answer'
    m = _STEP.match(step)
    if not m or len(chain) == 1:
        return 'format'
    i = chain.index('*') if '*' in chain else 1
    a, op, b = chain[i - 1], chain[i], chain[i + 1]
    if (int(m.group(1)), m.group(2), int(m.group(3))) != (a, op, b):
        return 'order'
    if int(m.group(4)) != apply(a, op, b):
        return 'result'
    return 'copy'
