"""The write-up's own example, reproduced faithfully, and its size measured in real bits.

The write-up (Magnus Hoie, "weightless_NN_decompression", notebook.ipynb + data.txt) codes 30 lines
of six binary digits (data.txt: 30 x "dddddd\\n" = 210 bytes) with:
- an LSTM (input 6, hidden 10, one layer) + a linear layer to 2 outputs + softmax, every weight
  and bias set to -0.1;
- SGD, learning rate 0.1, `CrossEntropyLoss` applied to the softmax output (softmax twice; kept);
- per line: the input starts as six -1s ("not seen yet"); for bits 0..4 it writes the bit into
  the input, predicts the next bit, and takes one SGD step;
- the probability the last forward pass gave becomes a *static* table for all six bits of the
  next line (arithmetic-compressor, StaticModel); the first line is stored raw.
It writes each line's code as ASCII '0'/'1' characters plus a newline and reports 210 -> 148 bytes.

Here the same model and updates drive `bench.coding.entropy` (backend "arithmetic-compressor", tables
from `quantize`) as ONE bit stream, so the size is real bits: 1 byte for the raw first line
(6 bits) + the coded bytes. The decoder runs the same updates on the lines it decodes. The number
of lines and their length are the example's constants, known to both sides (as in the write-up).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bench.coding import entropy
from bench.errors import CorruptStreamError

#: The write-up's data.txt, line by line.
DIGIT_LINES = (
    "000000 000001 000010 000011 000100 000101 000110 001000 001001 001010 "
    "000000 000001 000010 000011 000100 000000 000001 000010 000011 000100 "
    "000101 000110 001000 001001 001010 000000 000001 000010 000011 000100"
).split()
LINE_BITS = 6
ASCII_BYTES = sum(len(line) + 1 for line in DIGIT_LINES)  # data.txt's size: 210


class WriteupLSTM(nn.Module):
    def __init__(self, fixed_value: float = -0.1):
        super().__init__()
        self.lstm = nn.LSTM(LINE_BITS, 10, batch_first=True)
        self.fc = nn.Linear(10, 2)
        with torch.no_grad():
            for p in self.parameters():
                p.fill_(fixed_value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)  # zero initial state, as in the write-up
        return torch.softmax(self.fc(out[:, -1, :]), dim=1)


class WriteupLearner:
    """The write-up's model and optimiser; `learn(line)` returns the table for the next line."""

    def __init__(self):
        with torch.random.fork_rng(devices=[]):
            self.model = WriteupLSTM()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
        self.criterion = nn.CrossEntropyLoss()

    def learn(self, bits: list[int]) -> np.ndarray:
        seen = torch.full((1, 1, LINE_BITS), -1.0)
        output = None
        for i in range(LINE_BITS - 1):
            seen[0, 0, i] = float(bits[i])
            output = self.model(seen)
            loss = self.criterion(output, torch.tensor([bits[i + 1]]))
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        return output.detach().to(torch.float64).numpy()[0]  # (p0, p1) from the last forward pass


def _settings():
    saved = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    return saved


def _restore(saved) -> None:
    torch.set_num_threads(saved[0])
    torch.use_deterministic_algorithms(saved[1])


def compress(lines: list[str] = DIGIT_LINES, backend: str = "arithmetic-compressor") -> tuple[bytes, list[np.ndarray]]:
    """-> (stream, the probability table each coded line used)."""
    saved = _settings()
    try:
        bits = [[int(ch) for ch in line] for line in lines]
        learner, encoder, tables = WriteupLearner(), entropy.Encoder(backend), []
        for previous, line in zip(bits[:-1], bits[1:], strict=True):
            table = learner.learn(previous)
            tables.append(table)
            encoder.encode(np.array(line), entropy.quantize(np.tile(table, (LINE_BITS, 1))))
        first = int("".join(map(str, bits[0])), 2)
        return bytes([first]) + encoder.finish(), tables
    finally:
        _restore(saved)


def decompress(data: bytes, n_lines: int = len(DIGIT_LINES), backend: str = "arithmetic-compressor") -> list[str]:
    if len(data) < 1 or data[0] >> LINE_BITS:
        raise CorruptStreamError("write-up example stream: bad first line")
    saved = _settings()
    try:
        lines = [format(data[0], f"0{LINE_BITS}b")]
        learner, decoder = WriteupLearner(), entropy.Decoder(data[1:], backend)
        for _ in range(n_lines - 1):
            table = learner.learn([int(ch) for ch in lines[-1]])
            decoded = decoder.decode(entropy.quantize(np.tile(table, (LINE_BITS, 1))))
            lines.append("".join(str(int(b)) for b in decoded))
        return lines
    finally:
        _restore(saved)


def writeup_ascii_size(tables: list[np.ndarray], lines: list[str] = DIGIT_LINES) -> int:
    """The write-up's own accounting: each line coded alone with arithmetic-compressor's
    AECompressor(StaticModel), written as '0'/'1' characters and a newline; the first line raw."""
    from arithmetic_compressor import AECompressor
    from arithmetic_compressor.models import StaticModel

    size = len(lines[0]) + 1
    for table, line in zip(tables, lines[1:], strict=True):
        coder = AECompressor(StaticModel({0: float(table[0]), 1: float(table[1])}))
        size += len(coder.compress([int(ch) for ch in line])) + 1
    return size


def ideal_bits(tables: list[np.ndarray], lines: list[str] = DIGIT_LINES) -> float:
    """Code length a perfect coder would need with the same tables (plus the 6 raw bits)."""
    total = float(LINE_BITS)
    for table, line in zip(tables, lines[1:], strict=True):
        symbols = np.array([int(ch) for ch in line])
        total += entropy.ideal_bits(symbols, entropy.quantize(np.tile(table, (LINE_BITS, 1))))
    return total


def report() -> dict:
    data, tables = compress()
    decoded = decompress(data)
    return {
        "lines": len(DIGIT_LINES),
        "raw_bits": LINE_BITS * len(DIGIT_LINES),
        "ascii_bytes": ASCII_BYTES,
        "writeup_ascii_bytes": writeup_ascii_size(tables),
        "stream_bytes": len(data),
        "stream_bits": 8 * len(data),
        "ideal_bits": ideal_bits(tables),
        "round_trip_ok": decoded == list(DIGIT_LINES),
    }


if __name__ == "__main__":
    for key, value in report().items():
        print(f"{key:>20}: {value}")
