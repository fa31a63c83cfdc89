// The weightless codec as a context-mixing learner: zero stored weights, the encoder and the decoder
// learn the same model from the pixels already coded, one binary decision at a time.
//
// A pixel is coded as binary decisions: "is it 0?" (node 0), then, for a non-zero value, its eight
// bits from the most significant (tree nodes 1..255: the bits seen so far, behind a leading 1).
// Each decision's probability comes from three learned stages, all updated after the decision:
//   1. context models: for each of the contexts below (exact neighbouring values, their gradients
//      and linear predictions, the position in the 28x28 frame, quantised neighbourhoods, the shape
//      of the non-zero neighbours), a slot per (context, node) holding an adaptive probability and
//      how often it was seen (rate 1/(n + 1.6)). A context's slots lie in two 64-byte buckets, one
//      for the zero decision and the value's first four bits, one for its last four, so a pixel
//      costs two cache lines per context (prefetched) instead of nine scattered slots;
//   2. mixers: small online networks (logistic mixing, one weight per input), each choosing its
//      weights by another context; a second layer mixes their outputs;
//   3. secondary estimation (adaptive probability maps) refining the mixed probability in
//      contexts of the node, the nearest neighbours and the position.
// Every computation is integer arithmetic, so encoder and decoder agree bit for bit on any machine.
// The coded bits go through a 32-bit binary arithmetic coder with 12-bit probabilities.
//
// Python: encode(pixels, n_images, flags, table_bits) -> (stream, ideal_bits)
//         decode(stream, n_images, flags, table_bits) -> pixels
// `flags` switch ingredients off for the ablation (FLAG_*); a stream is decoded with its own flags.

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int SIDE = 28;
constexpr int PIXELS = SIDE * SIDE;
constexpr int NODES = 256;  // node 0: "is it 0?"; nodes 1..255: the value's bit tree

// Ingredients the ablation switches off.
constexpr int FLAG_NO_EXACT = 1;     // contexts of exact neighbouring values (quantised ones stay)
constexpr int FLAG_NO_MIXING = 2;    // learned mixers (a fixed average of the context models instead)
constexpr int FLAG_NO_SSE = 4;       // secondary estimation
constexpr int FLAG_NO_POSITION = 8;  // contexts of the position in the frame
constexpr int ALL_FLAGS = 15;

// ---- the logistic function and its inverse, in 12-bit fixed point --------------------------------

int squash_table[4096];
int16_t stretch_table[4096];

int squash_interpolated(int d) {  // 4096 / (1 + e^(-d/256)), interpolated between 33 knots
  static const int knots[33] = {1,    2,    3,    6,    10,   16,   27,   45,   73,   120,  194,
                                310,  488,  747,  1101, 1546, 2047, 2549, 2994, 3348, 3607, 3785,
                                3901, 3975, 4024, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094};
  if (d > 2047) return 4095;
  if (d < -2047) return 1;
  int w = d & 127;
  d = (d >> 7) + 16;
  return (knots[d] * (128 - w) + knots[d + 1] * w + 64) >> 7;
}

inline int squash(int d) { return squash_table[std::clamp(d, -2047, 2047) + 2048]; }
inline int stretch(int p) { return stretch_table[p]; }

int reciprocal[1024];  // 65536 / (n + 1.6): a slot's learning rate after n updates

void init_tables() {
  for (int i = 0; i < 4096; i++) squash_table[i] = squash_interpolated(i - 2048);
  int p = 0;
  for (int x = -2047; x <= 2047; x++) {
    int v = squash_interpolated(x);
    for (int j = p; j <= v; j++) stretch_table[j] = int16_t(x);
    p = v + 1;
  }
  for (int j = p; j < 4096; j++) stretch_table[j] = 2047;
  for (int n = 0; n < 1024; n++) reciprocal[n] = int(65536 * 10 / (10 * n + 16));
}

inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}
inline uint32_t H(uint32_t a, uint32_t b) { return mix32(a * 0x9E3779B1u + b + 0x632BE5ABu); }
inline uint32_t H(uint32_t a, uint32_t b, uint32_t c) { return H(H(a, b), c); }
inline uint32_t H(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return H(H(a, b, c), d); }
inline uint32_t H(uint32_t a, uint32_t b, uint32_t c, uint32_t d, uint32_t e) { return H(H(a, b, c, d), e); }

// ---- stage 1: context models ------------------------------------------------------------------

// A slot: a probability in its top 22 bits, its update count (up to COUNT_LIMIT) in the low 10.
constexpr int COUNT_LIMIT = 1023;
constexpr uint32_t FRESH_SLOT = 2048u << 20;

inline int slot_p12(uint32_t s) { return int(s >> 20); }
inline int slot_count(uint32_t s) { return int(s & 1023); }
inline void slot_update(uint32_t &s, int bit) {
  int n = slot_count(s);
  int64_t p = s >> 10;
  int64_t target = bit ? (1 << 22) - 1 : 0;
  p += ((target - p) * reciprocal[n]) >> 16;
  if (n < COUNT_LIMIT) n++;
  s = (uint32_t(p) << 10) | uint32_t(n);
}

// ---- stage 2: mixers --------------------------------------------------------------------------

struct Mixer {
  int inputs, contexts, rate;
  std::vector<int> weights;
  const int *x = nullptr;
  int count = 0, chosen = 0, p = 2048;

  // rate: the learning rate in 1/16384ths of the error; small: the stream is long and stationary
  // (rate 4 coded the test images 5% smaller than 64, 1.8% smaller than 16; docs/codecs.md).
  Mixer(int inputs_, int contexts_, int rate_, int initial)
      : inputs(inputs_), contexts(contexts_), rate(rate_), weights(size_t(inputs_) * contexts_, initial) {}

  int mix(const int *x_, int count_, int context) {
    x = x_;
    count = count_;
    chosen = context;
    const int *w = &weights[size_t(chosen) * inputs];
    int64_t dot = 0;
    for (int i = 0; i < count; i++) dot += int64_t(x[i]) * w[i];
    p = squash(int(dot >> 16));
    return p;
  }

  void update(int bit) {
    int error = ((bit << 12) - p) * rate;
    int *w = &weights[size_t(chosen) * inputs];
    for (int i = 0; i < count; i++) w[i] += (x[i] * error + 8192) >> 14;
  }
};

// ---- stage 3: secondary estimation -------------------------------------------------------------

struct ProbabilityMap {  // per context, 33 knots over the stretched input probability
  std::vector<uint16_t> knots;
  int rate, index = 0;

  ProbabilityMap(int contexts, int rate_) : knots(size_t(contexts) * 33), rate(rate_) {
    for (int c = 0; c < contexts; c++)
      for (int j = 0; j < 33; j++) knots[size_t(c) * 33 + j] = uint16_t(squash((j - 16) * 128) * 16);
  }

  int refine(int p, int context) {
    int s = stretch(p) + 2048;
    int low = s >> 7, w = s & 127;
    index = low + context * 33;
    int refined = (knots[index] * (128 - w) + knots[index + 1] * w) >> 11;
    if (w >= 64) index++;  // the nearer knot learns
    return std::clamp(refined, 1, 4095);
  }

  void update(int bit) {
    int target = (bit << 16) + (bit << rate) - bit - bit;
    knots[index] += (target - knots[index]) >> rate;
  }
};

// ---- the model ----------------------------------------------------------------------------------

constexpr int N_CONTEXTS = 37;
constexpr int N_INPUTS = N_CONTEXTS + 1;
constexpr int N_MIXERS = 6;
// Per node, the contexts each mixer chooses its weights by: the two nearest values (coarse), the row,
// the column, the count of non-zero neighbours, gradient and maximum, the shape of 8 neighbours.
constexpr int MIXER_CONTEXTS[N_MIXERS] = {16, 28, 28, 9, 64, 256};
constexpr int MIXER_RATE = 4, FINAL_RATE = 4;
constexpr int PAD = 3;
constexpr int WIDTH = SIDE + 2 * PAD;

inline int clamp255(int v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

class Model {
 public:
  Model(int flags, int table_bits)
      : flags_(flags),
        mask_((1u << table_bits) - 1),
        tables_(N_CONTEXTS, std::vector<uint32_t>(size_t(1) << table_bits, FRESH_SLOT)),
        final_(N_MIXERS + 1, NODES, FINAL_RATE, (1 << 16) / N_MIXERS),
        map_neighbours_(NODES * 256, 7),
        map_exact_(1 << 16, 7),
        map_position_(NODES * PIXELS, 7),
        canvas_(WIDTH * (SIDE + PAD), 0) {
    for (int m = 0; m < N_MIXERS; m++)
      mixers_.emplace_back(N_INPUTS, NODES * MIXER_CONTEXTS[m], MIXER_RATE, (1 << 16) / 8);
  }

  void start_image() { std::fill(canvas_.begin(), canvas_.end(), 0); }

  // Contexts of pixel (r, c) from the pixels already coded; then its decisions are `p`/`update`d.
  void start_pixel(int r, int c) {
    r_ = r;
    c_ = c;
    const int *q = &canvas_[(r + PAD) * WIDTH + c + PAD];
    int w = q[-1], ww = q[-2], www = q[-3], n = q[-WIDTH], nn = q[-2 * WIDTH], nnn = q[-3 * WIDTH];
    int nw = q[-WIDTH - 1], ne = q[-WIDTH + 1], nne = q[-2 * WIDTH + 1], nww = q[-WIDTH - 2];
    int nee = q[-WIDTH + 2], nnw = q[-2 * WIDTH - 1], nnee = q[-2 * WIDTH + 2];
    int grad = clamp255(w + n - nw), grad_ne = clamp255(n + ne - nne), grad_w = clamp255(w + nw - nww);
    int average = (w + n + ne + nw + 2) >> 2;
    int nonzero = (w > 0) + (n > 0) + (nw > 0) + (ne > 0) + (ww > 0) + (nn > 0) + (nne > 0) + (nee > 0);
    int high = (w > 200) + (n > 200) + (nw > 200) + (ne > 200);
    int top = std::max({w, n, nw, ne});
    bool exact = !(flags_ & FLAG_NO_EXACT), position = !(flags_ & FLAG_NO_POSITION);
    uint32_t *h = contexts_;
    // Position in the frame (digits are centred): alone and with one neighbour.
    *h++ = position ? H(1, r, c) : 0;
    *h++ = position ? H(9, r, c, exact ? w : w >> 5) : 0;
    *h++ = position ? H(15, r, c, exact ? n : n >> 5) : 0;
    *h++ = position ? H(21, r, c, grad >> 3) : 0;
    *h++ = position ? H(8, c, exact ? w : w >> 5, exact ? n : n >> 5) : 0;
    // Exact neighbouring values: the anti-aliased grey levels repeat exactly along an edge.
    *h++ = exact ? H(2, w, n) : 0;
    *h++ = exact ? H(3, w, n, nw, ne) : 0;
    *h++ = exact ? H(4, n, ne, nn, nne) : 0;
    *h++ = exact ? H(5, w, ww, nw, n) : 0;
    *h++ = exact ? H(6, grad, (w - n) >> 3) : 0;
    *h++ = exact ? H(10, n, ne, nee, w) : 0;
    *h++ = exact ? H(12, (w + ne) >> 1, (n - nw) >> 2) : 0;
    *h++ = exact ? H(13, H(w, n, nw, ne), nn, ww) : 0;
    *h++ = exact ? H(14, H(w, n, nw, ne, nne), nww, nee, nnw) : 0;
    *h++ = exact ? H(17, grad_ne, grad_w >> 2) : 0;
    *h++ = exact ? H(18, average, (ne - nw) >> 3) : 0;
    *h++ = exact ? H(20, H(w, ww, www), n, nn, nnn) : 0;
    *h++ = exact ? H(23, w, n, ne, nnee) : 0;
    // Quantised neighbourhoods: what generalises to values not seen in this exact combination.
    *h++ = H(7, H(w >> 4, n >> 4, nw >> 4, ne >> 4), ww >> 4, nn >> 4);
    *h++ = H(16, (2 * n - nn) >> 2, (2 * w - ww) >> 2, w >> 2);
    *h++ = H(19, H(w >> 2, n >> 2, nw >> 2, ne >> 2, ww >> 2), nn >> 2, nne >> 2);
    *h++ = H(22, nonzero, high, top >> 3, c >> 2);
    *h++ = H(24, H(w >> 5, n >> 5, nw >> 5, ne >> 5), H(ww >> 5, nn >> 5, nne >> 5, nnw >> 5), nee >> 5, nww >> 5);
    *h++ = H(11, 0);  // the node alone
    // Linear predictions of the value (exact), each beside a coarse neighbour.
    int med = std::min(std::max(std::min(w, n), w + n - nw), std::max(w, n));  // LOCO-I's median predictor
    *h++ = exact ? H(31, clamp255(n + ne - nne), w >> 4) : 0;
    *h++ = exact ? H(32, clamp255(w + ne - n), n >> 4) : 0;
    *h++ = exact ? H(33, (w + n + 1) >> 1, nw) : 0;
    *h++ = exact ? H(34, clamp255(2 * n - nn), w) : 0;
    *h++ = exact ? H(35, clamp255(2 * w - ww), n) : 0;
    *h++ = exact ? H(36, med, (std::abs(w - nw) + std::abs(n - nw) + std::abs(ne - n)) >> 3) : 0;
    // Wider exact neighbourhoods: along the column, along the row, up and to the right.
    *h++ = exact ? H(41, H(w, nw, n, ne), nne, nn, ww) : 0;
    *h++ = exact ? H(42, n, nn, nnn) : 0;
    *h++ = exact ? H(43, w, ww, www) : 0;
    *h++ = exact ? H(44, ne, nee, nne, nnee) : 0;
    *h++ = position ? H(45, r, exact ? w : w >> 5, exact ? n : n >> 5) : 0;
    // The shape: which of the 12 nearest coded pixels are not background.
    int shape = (w > 0) | (ww > 0) << 1 | (www > 0) << 2 | (nww > 0) << 3 | (nw > 0) << 4 | (n > 0) << 5 |
                (ne > 0) << 6 | (nee > 0) << 7 | (nnw > 0) << 8 | (nn > 0) << 9 | (nne > 0) << 10 | (nnn > 0) << 11;
    *h++ = H(51, shape, position ? r >> 2 : 0, position ? c >> 2 : 0);
    *h++ = H(52, shape, w >> 3, n >> 3);
    selectors_[0] = (w >> 6) * 4 + (n >> 6);
    selectors_[1] = std::min(27, r);
    selectors_[2] = c;
    selectors_[3] = nonzero;
    selectors_[4] = (grad >> 4) * 4 + (top >> 6);
    selectors_[5] = shape & 255;
    neighbours_ = (w >> 4) * 16 + (n >> 4);
    exact_pair_ = H(w, n);
  }

  // P(bit = 1) of the decision at `node`, 12 bits.
  int p(int node) {
    // A context's first bucket holds node 0 (is it 0?) and nodes 1..15 (the first four bits); once
    // those are known (node 16..31), its second bucket holds the tree below them.
    if (node == 0 || (node >= 16 && node < 32)) {
      uint32_t *bucket = node == 0 ? first_ : second_;
      for (int j = 0; j < N_CONTEXTS; j++) {
        bucket[j] = (mix32(contexts_[j] + uint32_t(node) * 0x2545F491u) & mask_) & ~15u;
        __builtin_prefetch(&tables_[j][bucket[j]]);
      }
    }
    int in_bucket = node;
    if (node >= 16) {
      int below = 27 - __builtin_clz(uint32_t(node));  // bits known beyond the first four
      in_bucket = (node & ((1 << below) - 1)) | (1 << below);
    }
    int *x = inputs_;
    for (int j = 0; j < N_CONTEXTS; j++) {
      slots_[j] = &tables_[j][(node < 16 ? first_[j] : second_[j]) + uint32_t(in_bucket)];
      uint32_t s = *slots_[j];
      *x++ = slot_count(s) ? stretch(slot_p12(s)) : 0;  // unseen: no opinion
    }
    *x++ = 256;
    int mixed;
    if (flags_ & FLAG_NO_MIXING) {
      int64_t sum = 0;
      for (int i = 0; i < N_CONTEXTS; i++) sum += inputs_[i];
      mixed = squash(int(sum / N_CONTEXTS));
    } else {
      for (int m = 0; m < N_MIXERS; m++) {
        mixers_[m].mix(inputs_, N_INPUTS, node * MIXER_CONTEXTS[m] + selectors_[m]);
        layer_[m] = stretch(mixers_[m].p);
      }
      layer_[N_MIXERS] = 256;
      mixed = final_.mix(layer_, N_MIXERS + 1, node);
    }
    mixed_ = mixed;
    if (flags_ & FLAG_NO_SSE) return std::clamp(mixed, 1, 4095);
    int a = map_neighbours_.refine(mixed, node * 256 + neighbours_);
    int b = map_exact_.refine(mixed, H(node, exact_pair_) & 0xFFFF);
    int c = map_position_.refine(mixed, node * PIXELS + r_ * SIDE + c_);
    return std::clamp((2 * mixed + a + b + 2 * c + 3) / 6, 1, 4095);
  }

  void update(int bit) {
    for (int j = 0; j < N_CONTEXTS; j++) slot_update(*slots_[j], bit);
    if (!(flags_ & FLAG_NO_MIXING)) {
      for (auto &m : mixers_) m.update(bit);
      final_.update(bit);
    }
    if (!(flags_ & FLAG_NO_SSE)) {
      map_neighbours_.update(bit);
      map_exact_.update(bit);
      map_position_.update(bit);
    }
  }

  void put(int value) { canvas_[(r_ + PAD) * WIDTH + c_ + PAD] = value; }

 private:
  int flags_;
  uint32_t mask_;
  std::vector<std::vector<uint32_t>> tables_;
  std::vector<Mixer> mixers_;
  Mixer final_;
  ProbabilityMap map_neighbours_, map_exact_, map_position_;
  std::vector<int> canvas_;
  uint32_t contexts_[N_CONTEXTS];
  uint32_t *slots_[N_CONTEXTS];
  uint32_t first_[N_CONTEXTS], second_[N_CONTEXTS];
  int inputs_[N_INPUTS], layer_[N_MIXERS + 1], selectors_[N_MIXERS];
  int r_ = 0, c_ = 0, neighbours_ = 0, mixed_ = 2048;
  uint32_t exact_pair_ = 0;
};

// ---- binary arithmetic coder ------------------------------------------------------------------

class Encoder {
 public:
  void code(int bit, int p12) {
    uint32_t middle = low_ + uint32_t((uint64_t(high_ - low_) * uint32_t(p12)) >> 12);
    if (bit) high_ = middle; else low_ = middle + 1;
    while (((low_ ^ high_) & 0xFF000000u) == 0) {
      out_.push_back(char(high_ >> 24));
      low_ <<= 8;
      high_ = (high_ << 8) | 0xFF;
    }
  }
  std::string finish() {
    for (int i = 0; i < 4; i++) {
      out_.push_back(char(low_ >> 24));
      low_ <<= 8;
    }
    return out_;
  }

 private:
  uint32_t low_ = 0, high_ = 0xFFFFFFFFu;
  std::string out_;
};

class Decoder {
 public:
  Decoder(const uint8_t *data, size_t size) : data_(data), size_(size) {
    for (int i = 0; i < 4; i++) x_ = (x_ << 8) | next();
  }
  int code(int p12) {
    uint32_t middle = low_ + uint32_t((uint64_t(high_ - low_) * uint32_t(p12)) >> 12);
    int bit = x_ <= middle;
    if (bit) high_ = middle; else low_ = middle + 1;
    while (((low_ ^ high_) & 0xFF000000u) == 0) {
      low_ <<= 8;
      high_ = (high_ << 8) | 0xFF;
      x_ = (x_ << 8) | next();
    }
    return bit;
  }
  size_t overrun() const { return read_ > size_ ? read_ - size_ : 0; }

 private:
  uint32_t next() { return read_ < size_ ? data_[read_++] : (read_++, 0u); }
  const uint8_t *data_;
  size_t size_, read_ = 0;
  uint32_t low_ = 0, high_ = 0xFFFFFFFFu, x_ = 0;
};

// One pass over the images; `Side` is the encoder or the decoder, which share every other step.
template <class Code>
void run(Model &model, uint8_t *pixels, size_t n_images, Code &&code) {
  for (size_t k = 0; k < n_images; k++) {
    uint8_t *image = pixels + k * PIXELS;
    model.start_image();
    for (int r = 0; r < SIDE; r++) {
      for (int c = 0; c < SIDE; c++) {
        model.start_pixel(r, c);
        uint8_t &value = image[r * SIDE + c];
        int nonzero = code(model, 0, value != 0);
        int v = 0;
        if (nonzero) {
          int node = 1;
          for (int b = 7; b >= 0; b--) {
            int bit = code(model, node, (value >> b) & 1);
            node = node * 2 + bit;
          }
          v = node - 256;
        }
        value = uint8_t(v);
        model.put(v);
      }
    }
  }
}

bool check_settings(int flags, int table_bits) {
  if (flags < 0 || flags > ALL_FLAGS || table_bits < 10 || table_bits > 24) {
    PyErr_SetString(PyExc_ValueError, "context mixing: flags must be 0..15 and table_bits 10..24");
    return false;
  }
  return true;
}

PyObject *py_encode(PyObject *, PyObject *args) {
  Py_buffer buffer;
  Py_ssize_t n_images;
  int flags, table_bits;
  if (!PyArg_ParseTuple(args, "y*nii", &buffer, &n_images, &flags, &table_bits)) return nullptr;
  if (!check_settings(flags, table_bits) || n_images < 0 || buffer.len != n_images * PIXELS) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "context mixing: expected n_images * 784 pixel bytes");
    PyBuffer_Release(&buffer);
    return nullptr;
  }
  std::vector<uint8_t> pixels(static_cast<const uint8_t *>(buffer.buf), static_cast<const uint8_t *>(buffer.buf) + buffer.len);
  PyBuffer_Release(&buffer);
  std::string stream;
  double ideal = 0;
  Py_BEGIN_ALLOW_THREADS
  Model model(flags, table_bits);
  Encoder encoder;
  run(model, pixels.data(), size_t(n_images), [&](Model &m, int node, int bit) {
    int p = m.p(node);
    encoder.code(bit, p);
    ideal -= std::log2((bit ? p : 4096 - p) / 4096.0);
    m.update(bit);
    return bit;
  });
  stream = encoder.finish();
  Py_END_ALLOW_THREADS
  return Py_BuildValue("(y#d)", stream.data(), Py_ssize_t(stream.size()), ideal);
}

PyObject *py_decode(PyObject *, PyObject *args) {
  Py_buffer buffer;
  Py_ssize_t n_images;
  int flags, table_bits;
  if (!PyArg_ParseTuple(args, "y*nii", &buffer, &n_images, &flags, &table_bits)) return nullptr;
  if (!check_settings(flags, table_bits) || n_images < 0) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "context mixing: n_images must be 0 or more");
    PyBuffer_Release(&buffer);
    return nullptr;
  }
  std::vector<uint8_t> pixels(size_t(n_images) * PIXELS);
  size_t overrun;
  Py_BEGIN_ALLOW_THREADS
  Model model(flags, table_bits);
  Decoder decoder(static_cast<const uint8_t *>(buffer.buf), size_t(buffer.len));
  run(model, pixels.data(), size_t(n_images), [&](Model &m, int node, int) {
    int bit = decoder.code(m.p(node));
    m.update(bit);
    return bit;
  });
  overrun = decoder.overrun();
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&buffer);
  // The decoder reads exactly the bytes the encoder wrote (its 4 bytes of look-ahead are the encoder's
  // 4 flushed bytes): reading past the end means the stream was cut short.
  if (overrun > 0) {
    PyErr_SetString(PyExc_ValueError, "context mixing: the stream ended before its last image");
    return nullptr;
  }
  return PyBytes_FromStringAndSize(reinterpret_cast<const char *>(pixels.data()), Py_ssize_t(pixels.size()));
}

PyMethodDef methods[] = {
    {"encode", py_encode, METH_VARARGS, "encode(pixels, n_images, flags, table_bits) -> (stream, ideal_bits)"},
    {"decode", py_decode, METH_VARARGS, "decode(stream, n_images, flags, table_bits) -> pixels"},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef module = {PyModuleDef_HEAD_INIT, "_context_mixing", "Context-mixing coder of MNIST images.", -1, methods};

}  // namespace

PyMODINIT_FUNC PyInit__context_mixing() {
  init_tables();  // once, before any thread codes
  PyObject *m = PyModule_Create(&module);
  if (m) {
    PyModule_AddIntConstant(m, "FLAG_NO_EXACT", FLAG_NO_EXACT);
    PyModule_AddIntConstant(m, "FLAG_NO_MIXING", FLAG_NO_MIXING);
    PyModule_AddIntConstant(m, "FLAG_NO_SSE", FLAG_NO_SSE);
    PyModule_AddIntConstant(m, "FLAG_NO_POSITION", FLAG_NO_POSITION);
  }
  return m;
}
