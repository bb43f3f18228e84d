"""Pattern text -> spec. A recursive-descent parser with positioned, helpful errors.

Grammar (docs/pattern-language.md has the full reference)::

    network  := [INPUT ['(' HxWxC ')'] '->'] chain
    chain    := element ('->' element)*
    element  := [label ':'] primary ('*' count | '?')*
    primary  := '[' chain ']' | '{' chain ('|' chain)+ '}' | layer
    layer    := NAME[F] ['-' W] ['(' arg (',' arg)* ')']      e.g. CONV3-64(s=2), FC-4096, POOL2
    count    := INTEGER | VARIABLE
    arg      := [key '='] value

Every error is a ``PatternError`` with line, column, a caret excerpt, what was expected, and a
"did you mean" for misspelt names. Limits on size, nesting, repetition and dimensions are checked while
parsing, so absurd input is refused before any memory is spent.
"""

from __future__ import annotations

import difflib
import inspect
import math
import re
from dataclasses import fields
from typing import Any

from convarch.blocks import BLOCKS, make_block
from convarch.errors import ConvarchError, PatternError
from convarch.pattern.lexer import BLANKS, Token, error_at, shown, tokenize
from convarch.spec.layers import PRIMITIVES, Layer, format_value
from convarch.spec.limits import MAX_DEPTH, MAX_DIM, MAX_LAYERS, MAX_REPEAT, expanded_size
from convarch.spec.nodes import NetSpec, Node, Opt, Parallel, Repeat, Seq
from convarch.spec.volume import Volume

ALIASES = {"stride": "s", "pad": "p", "padding": "p", "kernel": "f", "filter": "f", "filters": "out",
           "width": "out", "units": "out", "mode": "type"}  # fmt: skip
_SHORTHAND = re.compile(r"^([A-Z_]*[A-Z_])(\d+(?:X\d+)?)$")


def known_names() -> list[str]:
    return sorted({*PRIMITIVES, *BLOCKS, "INPUT"})


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0
        self.depth = 0

    # ---- token helpers -----------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.tok
        self.pos += 1
        return token

    def error(self, message: str, token: Token | None = None) -> PatternError:
        return error_at(self.text, token or self.tok, message)

    def expect(self, kind: str, what: str) -> Token:
        if self.tok.kind != kind:
            raise self.error(f"expected {what}, found {self.found()}")
        return self.take()

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(
                f"groups, repeats and optionals are nested more than {MAX_DEPTH} deep; flatten the pattern"
            )

    # ---- grammar -----------------------------------------------------------------------------------
    def network(self) -> NetSpec:
        volume = None
        if self.tok.kind == "WORD" and self.tok.text.upper() == "INPUT" and self.peek().kind != ":":
            volume = self.input()
            if self.tok.kind == "EOF":
                return NetSpec(Seq(()), volume)
            self.expect("ARROW", "'->' after INPUT")
        if self.tok.kind == "EOF":
            raise self.error("the pattern is empty: write layers such as CONV3-32 -> RELU -> POOL2 -> FC10")
        chain = self.chain(stop=("EOF",))
        self.expect("EOF", "'->' between layers or the end of the pattern")
        _check_size(chain, self)
        return NetSpec(chain, volume)

    def input(self) -> Volume | None:
        self.take()
        if self.tok.kind != "(":
            return None
        self.take()
        token = self.expect("NUMBER", "the input volume as HxWxC, e.g. INPUT(32x32x3)")
        dims = _dims(token.text)
        if len(dims) != 3 or not all(isinstance(d, int) for d in dims):
            raise self.error("INPUT takes a volume H x W x C, e.g. INPUT(224x224x3)", token)
        h, w, c = dims
        self.check_dim(max(dims), token)
        if min(dims) < 1:
            raise self.error("every INPUT dimension must be at least 1", token)
        mistake = Volume(c, h, w).order_mistake(f"INPUT({h}x{w}x{c})", text=True)
        if mistake:
            raise self.error(mistake, token)
        self.expect(")", "')' after the INPUT volume")
        return Volume(c, h, w)

    def chain(self, stop: tuple[str, ...], opener: Token | None = None) -> Seq:
        items = [self.element()]
        while self.tok.kind == "ARROW":
            self.take()
            items.append(self.element())
        if self.tok.kind not in stop:
            if self.tok.kind in ("WORD", "[", "{"):
                raise self.error("expected '->' between two layers")
            if self.tok.kind == "EOF" and opener is not None:
                close = "]" if opener.kind == "[" else "}"
                raise self.error(
                    f"the '{opener.kind}' opened at line {opener.line}, column {opener.column} is never closed: "
                    f"add '{close}'"
                )
            expected = " or ".join(f"'{s}'" if s != "EOF" else "the end of the pattern" for s in stop)
            raise self.error(f"expected '->' or {expected}, found {self.found()}")
        return Seq(tuple(items))

    def found(self) -> str:
        return "the end of the pattern" if self.tok.kind == "EOF" else repr(shown(self.tok.text))

    def element(self) -> Node:
        label = None
        if self.tok.kind == "WORD" and self.peek().kind == ":":
            label = self.take().text
            self.take()
        start = self.tok
        node, grouped = self.primary()
        depth = self.depth
        while self.tok.kind in ("*", "?"):
            self.enter()
            if self.take().kind == "?":
                node, grouped = Opt(_unwrap(node, grouped)), False
            else:
                node, grouped = Repeat(_unwrap(node, grouped), self.count()), False
        self.depth = depth
        if label is not None:
            node = _relabel(node, label, start, self)
        return node

    def count(self) -> int | str:
        token = self.tok
        if token.kind == "WORD":
            self.take()
            return token.text.upper()
        token = self.expect("NUMBER", "a repeat count after '*': an integer or a variable such as N")
        value = _dims(token.text)
        if len(value) != 1 or not isinstance(value[0], int):
            raise self.error("a repeat count must be a whole number or a variable such as N", token)
        if value[0] > MAX_REPEAT:
            raise self.error(f"repeat count {value[0]:,} is over the limit of {MAX_REPEAT:,}", token)
        return value[0]

    def primary(self) -> tuple[Node, bool]:
        token = self.tok
        if token.kind == "[":
            self.take()
            self.enter()
            if self.tok.kind == "]":
                raise self.error("an empty group '[]'; put at least one layer inside")
            chain = self.chain(stop=("]",), opener=token)
            self.take()
            self.depth -= 1
            return chain, True
        if token.kind == "{":
            self.take()
            self.enter()
            branches = [self.chain(stop=("|", "}"), opener=token)]
            while self.tok.kind == "|":
                self.take()
                branches.append(self.chain(stop=("|", "}"), opener=token))
            self.expect("}", "'}' to close the branches")
            self.depth -= 1
            if len(branches) < 2:
                raise self.error("parallel branches need at least two chains separated by '|'", token)
            return Parallel(tuple(_single(b) for b in branches)), False
        if token.kind == "WORD":
            return self.layer(), False
        raise self.error(f"expected a layer (such as CONV3-64, POOL2, FC10) or a '[' group, found {self.found()}")

    def layer(self) -> Node:
        token = self.take()
        word = token.text.upper()
        name, inline = word, None
        if name == "INPUT":
            raise self.error("INPUT can only start the pattern: INPUT(HxWxC) -> ...", token)
        if name not in PRIMITIVES and name not in BLOCKS:
            match = _SHORTHAND.match(word)
            if match and (match.group(1) in PRIMITIVES):
                name, inline = match.group(1), match.group(2)
            else:
                raise self.error(_unknown(word), token)
        numbers: list[Any] = []
        if inline is not None:
            numbers.append(_value(inline))
            for number in _dims(inline):
                self.check_dim(int(number), token)
        dash = None
        if self.tok.kind == "-":
            self.take()
            dash = self.tok
            numbers.append(self.value() if dash.kind == "NUMBER" else self.expect("NUMBER", "a width after '-'"))
        args: list[Any] = []
        kwargs: dict[str, tuple[Any, Token]] = {}
        if self.tok.kind == "(":
            args, kwargs = self.arguments()
        if name in BLOCKS:
            return self.make_block(name, numbers, args, kwargs, token)
        return self.make_layer(name, numbers, dash is not None, args, kwargs, token)

    def arguments(self) -> tuple[list[Any], dict[str, tuple[Any, Token]]]:
        self.take()
        args: list[Any] = []
        kwargs: dict[str, tuple[Any, Token]] = {}
        if self.tok.kind == ")":
            self.take()
            return args, kwargs
        while True:
            if self.tok.kind == "WORD" and self.peek().kind == "=":
                key = self.take()
                self.take()
                if key.text.lower() in kwargs:
                    raise self.error(f"argument {key.text} is given twice", key)
                kwargs[key.text.lower()] = (self.value(), key)
            else:
                if kwargs:
                    raise self.error("a positional argument cannot follow a named one")
                args.append(self.value())
            if self.tok.kind == ")":
                self.take()
                return args, kwargs
            self.expect(",", "',' or ')' in the argument list")

    def value(self) -> Any:
        token = self.tok
        if token.kind == "NUMBER":
            self.take()
            value = _value(token.text)
            for number in value if isinstance(value, tuple) else (value,):
                if isinstance(number, int):
                    self.check_dim(number, token)
                elif not math.isfinite(number):
                    raise self.error("numbers must be finite", token)
            return value
        if token.kind == "WORD":
            self.take()
            lowered = token.text.lower()
            return {"true": True, "false": False}.get(lowered, lowered)
        if token.kind == "-":
            raise self.error("negative values are not allowed here")
        raise self.error("expected a value: a number, HxW, true/false or a name")

    def check_dim(self, value: int, token: Token) -> None:
        if value > MAX_DIM:
            raise self.error(f"{value:,} is over the limit of {MAX_DIM:,} for a size, width or count", token)

    # ---- building nodes ----------------------------------------------------------------------------
    def make_layer(
        self, name: str, numbers: list[Any], dashed: bool, args: list[Any],
        kwargs: dict[str, tuple[Any, Token]], token: Token,
    ) -> Layer:  # fmt: skip
        cls = PRIMITIVES[name]
        shorthand = list(cls.shorthand)
        if not shorthand and numbers:
            raise self.error(f"{name} takes no inline numbers; write its arguments in parentheses", token)
        if len(numbers) > len(shorthand):
            form = name + "-".join(f"{{{field}}}" for field in shorthand)
            raise self.error(f"{name} takes at most {len(shorthand)} inline number(s): {form}", token)
        values: dict[str, Any] = {}
        if dashed and len(numbers) == 1:  # CONV-64 / FC-4096: the dash always gives the width
            values[shorthand[-1]] = numbers[0]
        else:
            values.update(zip(shorthand, numbers, strict=False))
        if len(args) > len(cls.positional):
            raise self.error(f"{name} takes at most {len(cls.positional)} positional argument(s)", token)
        for field_name, value in zip(cls.positional, args, strict=False):
            if field_name in values:
                raise self.error(f"{name}: {field_name} is given twice", token)
            values[field_name] = value
        names = [f.name for f in fields(cls) if f.name != "label"]
        for key, (value, key_token) in kwargs.items():
            key = ALIASES.get(key, key)
            if key not in names:
                raise self.error(_unknown_arg(name, key, names), key_token)
            if key in values:
                raise self.error(f"{name}: {key} is given twice", key_token)
            values[key] = value
        if name == "POOL" and "out" in values and set(values) - {"out", "type"}:
            extra = ", ".join(sorted(set(values) - {"out", "type"}))
            raise self.error(
                f"an adaptive POOL(out=HxW) takes only type=max|avg, not {extra}: its windows follow from the "
                "input size",
                token,
            )
        types = {f.name: str(f.type) for f in fields(cls)}
        try:
            converted = {k: _convert(v, types[k], k) for k, v in values.items()}
            return cls(**converted)
        except (ConvarchError, TypeError, ValueError) as error:
            message = str(error)
            raise self.error(message if message.startswith(name) else f"{name}: {message}", token) from None

    def make_block(
        self, name: str, numbers: list[Any], args: list[Any], kwargs: dict[str, tuple[Any, Token]], token: Token
    ) -> Node:
        definition = BLOCKS[name]
        params = list(definition.signature.parameters)
        plain = {}
        for key, (value, key_token) in kwargs.items():
            key = key if key in params else ALIASES.get(key, key)  # a block's own 'width' is not the alias
            if key not in params:
                raise self.error(_unknown_arg(name, key, params), key_token)
            plain[key] = value
        try:
            bound = definition.signature.bind_partial(*numbers, *args, **plain)
            for param, value in bound.arguments.items():  # DENSE(0.5) is refused here, not deep in the walk
                annotation = definition.signature.parameters[param].annotation
                text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
                bound.arguments[param] = _convert(value, text, param, minimum=None)
            return make_block(name, *bound.args, **bound.kwargs)
        except TypeError as error:
            raise self.error(f"{name}: {error}; it takes {signature_text(name)}", token) from None
        except (ConvarchError, ValueError) as error:
            message = str(error)
            raise self.error(message if message.startswith(name) else f"{name}: {message}", token) from None
        except Exception as error:  # a bug in a block function must still come out as a PatternError
            reason = f"{type(error).__name__}: {error}"
            raise self.error(f"{name} could not be made from these arguments ({reason})", token) from None


# ---- helpers ---------------------------------------------------------------------------------------


def _dims(text: str) -> tuple[int | float, ...]:
    """``32x32x3``, ``32 x 32 x 3`` or ``32×32×3`` (the lexer allows spaces around the x)."""
    return tuple(_number(part.strip(BLANKS)) for part in re.split("[xX×]", text))


def _number(text: str) -> int | float:
    return int(text) if text.isdigit() else float(text)


def _value(text: str) -> Any:
    dims = _dims(text)
    return dims[0] if len(dims) == 1 else dims


def _convert(value: Any, annotation: str, name: str, minimum: int | None = 1) -> Any:
    """Coerce a parsed value to a field's type, with a message naming the argument.

    A primitive's whole-number fields are counts or sizes, so they start at ``minimum`` = 1; a block's
    arguments are checked for their type only (``DENSE(0)`` is an empty block).
    """
    if "Pair" in annotation:
        if isinstance(value, float) or (isinstance(value, tuple) and any(isinstance(v, float) for v in value)):
            raise ValueError(f"{name} must be a whole number or HxW, got {format_value(value)}")
        return value
    if annotation.startswith("bool"):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {format_value(value)}")
        return value
    if annotation.startswith("float"):
        if isinstance(value, bool | str | tuple):
            raise ValueError(f"{name} must be a number, got {format_value(value)}")
        return float(value)
    if annotation.startswith("int | str") and isinstance(value, str):
        return value  # a count or a name (CONV groups=depthwise): the layer checks the name
    if annotation.startswith("int"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name} must be a whole number, got {format_value(value)}")
        if minimum is not None and value < minimum:
            raise ValueError(f"{name} must be at least {minimum}, got {format_value(value)}")
        return value
    if annotation.startswith("str"):
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a name, got {format_value(value)}")
        return value
    return value


def _unwrap(node: Node, grouped: bool) -> Node:
    """``[X]*N`` repeats X itself; ``[X -> Y]*N`` repeats the sequence."""
    if grouped and isinstance(node, Seq) and len(node.items) == 1:
        return node.items[0]
    return node


def _single(chain: Seq) -> Node:
    return chain.items[0] if len(chain.items) == 1 else chain


def _relabel(node: Node, label: str, token: Token, parser: _Parser) -> Node:
    from dataclasses import replace

    if node.label is not None:
        raise parser.error("an element can have only one label", token)
    return replace(node, label=label)


def _closest(word: str, names: list[str]) -> list[str]:
    """The closest names, best first; a name clearly further than the best is left out (RLEU: RELU, not RELU6)."""
    close = difflib.get_close_matches(word, names, n=3, cutoff=0.6)
    scores = [difflib.SequenceMatcher(None, word, name).ratio() for name in close]
    return [name for name, score in zip(close, scores, strict=True) if score >= scores[0] - 0.02]


def _unknown(word: str) -> str:
    """'unknown layer' with the closest names; a misspelt shorthand keeps its numbers (CONVV3 -> CONV3)."""
    names = known_names()
    match = _SHORTHAND.match(word)
    stem, digits = (match.group(1), match.group(2)) if match else (word, "")
    close = _closest(stem, names)
    if not close and digits:
        close, digits = _closest(word, names), ""
    suggestions = [c + digits if c in PRIMITIVES and PRIMITIVES[c].shorthand else c for c in close]
    if suggestions:
        return f"unknown layer {shown(word)!r}. Did you mean {' or '.join(suggestions)}?"
    blocks = f"; blocks: {', '.join(sorted(BLOCKS))}" if BLOCKS else ""
    return f"unknown layer {shown(word)!r}. Known layers: {', '.join(sorted(PRIMITIVES))}{blocks}"


def _unknown_arg(layer: str, key: str, names: list[str]) -> str:
    """'no argument' with the closest argument name, looking at the long aliases too (strid -> s)."""
    aliases = {alias: target for alias, target in ALIASES.items() if target in names}
    close = difflib.get_close_matches(key, [*names, *aliases], n=1, cutoff=0.5)
    hint = ""
    if close:
        hint = f" Did you mean {f'{aliases[close[0]]} ({close[0]})' if close[0] in aliases else close[0]}?"
    return f"{layer} has no argument {shown(key)!r}.{hint} Its arguments: {', '.join(names)}"


def _check_size(chain: Seq, parser: _Parser) -> None:
    size = expanded_size(chain)
    if size > MAX_LAYERS:
        raise PatternError(
            f"the pattern expands to {size:,} layers; the limit is {MAX_LAYERS:,}. Reduce the repeat counts."
        )


def parse(text: str) -> NetSpec:
    """Parse pattern text into a (possibly template) network spec."""
    return _Parser(text).network()


def signature_text(name: str) -> str:
    """``BOTTLENECK(width, s=1, stride_in=conv2)``: a block's arguments and defaults as a pattern writes them."""
    definition = BLOCKS[name]
    params = []
    for p in definition.signature.parameters.values():
        params.append(p.name if p.default is inspect.Parameter.empty else f"{p.name}={format_value(p.default)}")
    return f"{name}({', '.join(params)})"
