"""Automatic step labels (Math-Shepherd style, computed exactly instead of by rollouts): a step is good when
it applies one operation whose operands are both ready in the problem's expression tree (numbers of the
problem or results of earlier steps, in that order), with the right result, and every earlier step was
good; the final step is good when the tree is fully reduced and the boxed number is its value."""
import re

_TOKEN = re.compile(r'\s*(\d+|[-+*/()])')
_STEP = re.compile(r'^(\d+) ([-+*/]) (\d+) = (\d+)$')
_FINAL = re.compile(r'^The answer is \\boxed\{(-?\d+)\}\.$')
_OPS = {'+': lambda a, b: a + b, '-': lambda a, b: a - b, '*': lambda a, b: a * b,
        '/': lambda a, b: a // b if b != 0 and a % b == 0 else None}


class Node:
    def __init__(self, op=None, left=None, right=None, value=None):
        self.op, self.left, self.right, self.value = op, left, right, value


def parse_expression(problem: str) -> Node:
    """The expression tree of a generated problem ("Compute 3 + 4 * (5 - 2)." etc.)."""
    start = re.search(r'[\d(]', problem).start()
    end = max(problem.rfind(c) for c in '0123456789)') + 1
    tokens = _TOKEN.findall(problem[start:end])
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def atom():
        if peek() == '(':
            take()
            e = expr()
            assert take() == ')'
            return e
        return Node(value=int(take()))

    def term():
        e = atom()
        while peek() in ('*', '/'):
            e = Node(take(), e, atom())
        return e

    def expr():
        e = term()
        while peek() in ('+', '-'):
            e = Node(take(), e, term())
        return e

    tree = expr()
    assert pos == len(tokens), problem
    return tree


def _ready_nodes(n: Node, out):
    if n.op is None:
        return out
    if n.left.op is None and n.right.op is None:
        out.append(n)
    else:
        _ready_nodes(n.left, out)
        _ready_nodes(n.right, out)
    return out


def _ready_node(tree: Node, op, a, b):
    """The ready operation `a op b` of the tree, or None."""
    return next((n for n in _ready_nodes(tree, []) if n.op == op and n.left.value == a and n.right.value == b), None)


def _reduce(node: Node, value):
    node.op, node.left, node.right, node.value = None, None, None, value


def _tree_after(problem: str, right_steps):
    """The problem's tree with right_steps (each a right operation step) done."""
    tree = parse_expression(problem)
    for step in right_steps:
        m = _STEP.match(step.strip())
        if m:
            _reduce(_ready_node(tree, m[2], int(m[1]), int(m[3])), int(m[4]))
    return tree


def label_steps(problem: str, steps):
    """One bool per step (see the module comment)."""
    tree = parse_expression(problem)
    labels, ok = [], True
    for step in steps:
        step = step.strip()
        if ok:
            m, f = _STEP.match(step), _FINAL.match(step)
            if m:
                a, op, b, c = int(m[1]), m[2], int(m[3]), int(m[4])
                node = _ready_node(tree, op, a, b)
                ok = node is not None and _OPS[op](a, b) == c
                if ok:
                    _reduce(node, c)
            elif f:
                ok = tree.op is None and int(f[1]) == tree.value
            else:
                ok = False
        labels.append(ok)
    return labels


def next_step_kind(problem: str, steps):
    """What the last step is, the earlier ones being right: 'good', 'result' (a ready operation with a wrong
    result), 'operands' (an operation that is not ready: wrong, copied-wrong or not-yet-computed operands),
    'final' (a wrong or early boxed answer) or 'unparsed'. The two big kinds need different checks from a PRM."""
    assert all(label_steps(problem, steps[:-1])), 'the earlier steps must be right'
    if label_steps(problem, steps)[-1]:
        return 'good'
    tree = _tree_after(problem, steps[:-1])
    last = steps[-1].strip()
    m = _STEP.match(last)
    if m:
        return 'result' if _ready_node(tree, m[2], int(m[1]), int(m[3])) else 'operands'
    return 'final' if _FINAL.match(last) else 'unparsed'


def right_next_steps(problem: str, right_steps):
    """Every right continuation after right_steps: each ready operation with its value, or the final answer."""
    tree = _tree_after(problem, right_steps)
    ready = _ready_nodes(tree, [])
    return [f'{n.left.value} {n.op} {n.right.value} = {_OPS[n.op](n.left.value, n.right.value)}' for n in ready] or [f'The answer is \\boxed{{{tree.value}}}.']


def result_digit_labels(problem: str, steps):
    """Per step, one bool per digit of the result it writes (of the boxed number for the final step), or []
    when the step does not parse: the digit is good when everything before it is (earlier steps, the
    operation and its operands) and the digits so far are the start of the right result. A dense signal at
    the point where a wrong result becomes visible ("9 + 6 = 1" is still fine, "9 + 6 = 16" is not at "6")."""
    tree = parse_expression(problem)
    out, ok = [], True
    for step in steps:
        step = step.strip()
        m, f = _STEP.match(step), _FINAL.match(step)
        if m:
            a, op, b, written = int(m[1]), m[2], int(m[3]), m[4]
            node = _ready_node(tree, op, a, b) if ok else None
            value = _OPS[op](a, b) if node is not None else None
        elif f:
            written = f[1]
            value = tree.value if ok and tree.op is None else None
        else:
            out.append([])
            ok = False
            continue
        right = '' if value is None else str(value)
        out.append([value is not None and written[:i + 1] == right[:i + 1] for i in range(len(written))])
        step_ok = value is not None and written == right
        if step_ok and m:
            _reduce(node, value)
        ok = ok and step_ok
    return out


if __name__ == '__main__':
    p = 'Compute 3 + 4 * (5 - 2).'
    assert label_steps(p, ['5 - 2 = 3', '4 * 3 = 12', '3 + 12 = 15', 'The answer is \\boxed{15}.']) == [True] * 4
    assert label_steps(p, ['5 - 2 = 3', '4 * 3 = 13', '3 + 13 = 16', 'The answer is \\boxed{16}.']) == [True, False, False, False]
    assert label_steps(p, ['3 + 4 = 7', '7 * 3 = 21']) == [False, False]
    assert label_steps(p, ['5 - 2 = 3', 'The answer is \\boxed{3}.']) == [True, False]
    assert result_digit_labels(p, ['5 - 2 = 3', '4 * 3 = 13', '3 + 13 = 16', 'The answer is \\boxed{16}.']) == [
        [True], [True, False], [False, False], [False, False]]
    assert result_digit_labels(p, ['5 - 2 = 3', '4 * 3 = 12', '3 + 12 = 15', 'The answer is \\boxed{15}.']) == [[True], [True, True], [True, True], [True, True]]
    assert result_digit_labels(p, ['3 + 4 = 7', 'oops']) == [[False], []]
    for steps in (['5 - 2 = 3', '4 * 3 = 13'], ['5 - 2 = 3', '4 * 3 = 12', '3 + 12 = 15', 'The answer is \\boxed{15}.'], ['3 + 4 = 7']):
        assert [all(d) for d in result_digit_labels(p, steps)] == label_steps(p, steps)
    assert [next_step_kind(p, s) for s in (['5 - 2 = 3'], ['5 - 2 = 4'], ['3 + 4 = 7'], ['5 - 2 = 3', 'The answer is \\boxed{3}.'], ['5 - 2 = 3', '4 * 3 = 12', 'x'])] == [
        'good', 'result', 'operands', 'final', 'unparsed']
    assert right_next_steps(p, []) == ['5 - 2 = 3'] and right_next_steps(p, ['5 - 2 = 3', '4 * 3 = 12', '3 + 12 = 15']) == ['The answer is \\boxed{15}.']
    print('label_steps self-check ok')
