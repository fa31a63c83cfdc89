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
// Python: encode(pixels, n_images, flags, table_bits, prior=None) -> (stream, ideal_bits)
//         decode(stream, n_images, flags, table_bits, prior=None) -> pixels
// `flags` switch ingredients off for the ablation (FLAG_*); a stream is decoded with its own flags.
// `prior` (the learned codec): a trained network whose prediction is mixed in (see `Prior`): one more
// input of every mixer, the context of a seventh mixer, an input of the second layer, and the
// context of a fourth probability map (on the test images each of the last two took 0.2% off).

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

// ---- the offline model: a trained network's prediction, adapting as it codes --------------------
//
// The learned codec mixes a trained network's prediction of the pixel (local-ar's: a causal window
// of the pixels above and to the left, and the position, through a small MLP to 256 values) into
// the context models. After each pixel its output layer takes one gradient step on the value just
// coded (dynamic evaluation), so the network adapts to the images as it codes them; the decoder
// takes the same steps. This part is float arithmetic in a fixed order with this file's own exp,
// log and erf (a C library's may differ between machines), compiled without contraction into
// fused multiply-adds: the two sides agree on any IEEE-754 machine.

double exp_fixed(double x) {
  if (x < -700.0) return 0.0;
  if (x > 700.0) x = 700.0;
  double y = x * 1.4426950408889634 + 0.5;
  int64_t n = int64_t(y);  // floor(y), exactly: toward zero, then one down for a negative fraction
  if (double(n) > y) n--;
  double k = double(n);
  double r = (x - k * 0.6931471803691238) - k * 1.9082149292705877e-10;  // |r| <= ln(2)/2
  double p = 1.0 / 39916800;  // Taylor to degree 11: error below 1e-14 there
  for (double d : {3628800.0, 362880.0, 40320.0, 5040.0, 720.0, 120.0, 24.0, 6.0, 2.0, 1.0, 1.0}) p = p * r + 1.0 / d;
  uint64_t bits = uint64_t(n + 1023) << 52;  // 2^n, a normal double for |n| <= 1011: exact scaling
  double scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

double log_fixed(double x) {  // x > 0
  int e;
  double m = std::frexp(x, &e);
  if (m < 0.7071067811865476) {
    m *= 2;
    e -= 1;
  }
  double s = (m - 1) / (m + 1), s2 = s * s;  // ln m = 2 atanh(s), |s| <= 0.172
  double sum = 1.0 / 17;
  for (int k = 15; k >= 1; k -= 2) sum = sum * s2 + 1.0 / k;
  return e * 0.6931471805599453 + 2 * s * sum;
}

double erf_fixed(double x) {  // Abramowitz and Stegun 7.1.26: absolute error below 1.5e-7
  double a = std::fabs(x), t = 1 / (1 + 0.3275911 * a);
  double y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t *
                     exp_fixed(-a * a);
  return x < 0 ? -y : y;
}

inline float gelu(float x) { return float(0.5 * x * (1 + erf_fixed(x * 0.7071067811865476))); }

// The dense products, compiled twice (AVX2 where the CPU has it, SSE2 otherwise): each output is its
// own sum in input order on either path, so the two compute the same bits.
__attribute__((target_clones("avx2", "default"))) void accumulate(float *out, const float *in, const float *w,
                                                                  int n_in, int n_out) {
  for (int i = 0; i < n_in; i++) {
    float x = in[i];
    const float *row = w + size_t(i) * n_out;
    for (int j = 0; j < n_out; j++) out[j] += x * row[j];
  }
}

__attribute__((target_clones("avx2", "default"))) void descend(float *w, const float *in, const float *step,
                                                               int n_in, int n_out) {
  for (int i = 0; i < n_in; i++) {
    float x = in[i];
    float *row = w + size_t(i) * n_out;
    for (int j = 0; j < n_out; j++) row[j] -= x * step[j];
  }
}

struct Prior {
  // The network (local-ar's CausalNet): window bytes (1/255 folded in) and the position's share of
  // the first layer as one bias row per position, `layers` residual blocks, 256 logits.
  int rows_above, half_width, left, size, hidden, layers;
  float rate;  // dynamic evaluation's learning rate (0: the network stays as trained)
  std::vector<int> offsets;  // (PIXELS, size) frame cells of each position's window
  std::vector<float> first, bias, block_w, block_b, out_w, out_b;
  std::vector<uint8_t> frame;  // the image so far, zero-padded
  std::vector<float> a, h, q;
  std::vector<double> cum;
  int width = 0, t = 0;
  bool busy = false;  // a window with a non-zero pixel: the network is asked (else the position alone)

  int frame_cell(int r, int c) const { return (r + rows_above) * width + c + half_width; }

  void start_image() { std::fill(frame.begin(), frame.end(), 0); }

  void predict(int r, int c) {
    t = r * SIDE + c;
    const int *window = &offsets[size_t(t) * size];
    busy = false;
    for (int i = 0; i < size && !busy; i++) busy = frame[window[i]] != 0;
    if (!busy) return;
    std::copy(&bias[size_t(t) * hidden], &bias[size_t(t + 1) * hidden], a.begin());
    for (int i = 0; i < size; i++) {
      float x = frame[window[i]];
      if (x == 0) continue;  // adds +0 or -0: skipping it changes no bit
      const float *w = &first[size_t(i) * hidden];
      for (int j = 0; j < hidden; j++) a[j] += x * w[j];
    }
    for (int j = 0; j < hidden; j++) h[j] = gelu(a[j]);
    for (int l = 0; l < layers; l++) {
      const float *b = &block_b[size_t(l) * hidden];
      std::copy(b, b + hidden, a.begin());
      accumulate(a.data(), h.data(), &block_w[size_t(l) * hidden * hidden], hidden, hidden);
      for (int j = 0; j < hidden; j++) h[j] += gelu(a[j]);
    }
    std::copy(out_b.begin(), out_b.end(), q.begin());
    accumulate(q.data(), h.data(), out_w.data(), hidden, NODES);
    float top = q[0];
    for (int k = 1; k < NODES; k++) top = std::max(top, q[k]);
    for (int k = 0; k < NODES; k++) cum[k + 1] = cum[k] + exp_fixed(double(q[k]) - top);  // cum[0] stays 0
    for (int k = 0; k < NODES; k++) q[k] = float((cum[k + 1] - cum[k]) / cum[NODES]);
  }

  // The network's P(bit = 1) at a decision node, in the stretched domain (256 per nat), 0 if not asked.
  int stretched(int node) const {
    if (!busy) return 0;
    double zero, one;
    if (node == 0) {
      zero = cum[1];
      one = cum[NODES] - cum[1];
    } else {
      int depth = 31 - __builtin_clz(uint32_t(node)), span = NODES >> depth;
      int low = (node - (1 << depth)) * span, middle = low + span / 2;
      zero = cum[middle] - cum[std::max(low, 1)];  // the value is not 0 by now
      one = cum[low + span] - cum[middle];
    }
    double floor = cum[NODES] * 1e-9;
    double d = 256 * (log_fixed(one + floor) - log_fixed(zero + floor));
    return int(std::floor(std::clamp(d, -2047.0, 2047.0) + 0.5));
  }

  // The coded value: into the frame, and one gradient step of the output layer towards it.
  void learn(int value) {
    frame[frame_cell(t / SIDE, t % SIDE)] = uint8_t(value);
    if (!busy || rate == 0) return;
    for (int k = 0; k < NODES; k++) q[k] = rate * (q[k] - (k == value));
    descend(out_w.data(), h.data(), q.data(), hidden, NODES);
    for (int k = 0; k < NODES; k++) out_b[k] -= q[k];
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
constexpr int PRIOR_BUCKETS = 33;  // the prior's mixer: not asked, or its stretched prediction in 32 steps
constexpr int PAD = 3;
constexpr int WIDTH = SIDE + 2 * PAD;

inline int clamp255(int v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

class Model {
 public:
  // `prior`: a trained network's prediction to mix in (the learned codec), or none (weightless).
  Model(int flags, int table_bits, Prior *prior = nullptr)
      : flags_(flags),
        mask_((1u << table_bits) - 1),
        prior_(prior),
        n_inputs_(N_INPUTS + (prior ? 1 : 0)),
        n_mixers_(N_MIXERS + (prior ? 1 : 0)),
        tables_(N_CONTEXTS, std::vector<uint32_t>(size_t(1) << table_bits, FRESH_SLOT)),
        final_(n_mixers_ + 1 + (prior ? 1 : 0), NODES, FINAL_RATE, (1 << 16) / n_mixers_),
        map_neighbours_(NODES * 256, 7),
        map_exact_(1 << 16, 7),
        map_position_(NODES * PIXELS, 7),
        map_prior_(prior ? NODES * PRIOR_BUCKETS : 1, 7),
        canvas_(WIDTH * (SIDE + PAD), 0) {
    for (int m = 0; m < N_MIXERS; m++)
      mixers_.emplace_back(n_inputs_, NODES * MIXER_CONTEXTS[m], MIXER_RATE, (1 << 16) / 8);
    // With a prior, one more mixer chooses its weights by the network's confidence at the node.
    if (prior_) mixers_.emplace_back(n_inputs_, NODES * PRIOR_BUCKETS, MIXER_RATE, (1 << 16) / 8);
  }

  void start_image() {
    std::fill(canvas_.begin(), canvas_.end(), 0);
    if (prior_) prior_->start_image();
  }

  // Contexts of pixel (r, c) from the pixels already coded; then its decisions are `p`/`update`d.
  void start_pixel(int r, int c) {
    r_ = r;
    c_ = c;
    if (prior_) prior_->predict(r, c);
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
    if (prior_) {
      int d = prior_->stretched(node);
      prior_stretch_ = d;
      *x++ = d;
      selectors_[N_MIXERS] = prior_->busy ? 1 + ((d + 2048) >> 7) : 0;
    }
    *x++ = 256;
    int mixed;
    if (flags_ & FLAG_NO_MIXING) {
      int64_t sum = 0;
      for (int i = 0; i < n_inputs_ - 1; i++) sum += inputs_[i];
      mixed = squash(int(sum / (n_inputs_ - 1)));
    } else {
      for (int m = 0; m < n_mixers_; m++) {
        int contexts = m < N_MIXERS ? MIXER_CONTEXTS[m] : PRIOR_BUCKETS;
        mixers_[m].mix(inputs_, n_inputs_, node * contexts + selectors_[m]);
        layer_[m] = stretch(mixers_[m].p);
      }
      int count = n_mixers_;
      if (prior_) layer_[count++] = prior_stretch_;  // the network itself, beside the mixers
      layer_[count++] = 256;
      mixed = final_.mix(layer_, count, node);
    }
    if (flags_ & FLAG_NO_SSE) return std::clamp(mixed, 1, 4095);
    int a = map_neighbours_.refine(mixed, node * 256 + neighbours_);
    int b = map_exact_.refine(mixed, H(node, exact_pair_) & 0xFFFF);
    int c = map_position_.refine(mixed, node * PIXELS + r_ * SIDE + c_);
    if (prior_) {
      int d = map_prior_.refine(mixed, node * PRIOR_BUCKETS + selectors_[N_MIXERS]);
      return std::clamp((2 * mixed + a + b + 2 * c + 2 * d + 4) / 8, 1, 4095);
    }
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
      if (prior_) map_prior_.update(bit);
    }
  }

  void put(int value) {
    canvas_[(r_ + PAD) * WIDTH + c_ + PAD] = value;
    if (prior_) prior_->learn(value);
  }

 private:
  int flags_;
  uint32_t mask_;
  Prior *prior_;
  int n_inputs_, n_mixers_;
  std::vector<std::vector<uint32_t>> tables_;
  std::vector<Mixer> mixers_;
  Mixer final_;
  ProbabilityMap map_neighbours_, map_exact_, map_position_, map_prior_;
  std::vector<int> canvas_;
  uint32_t contexts_[N_CONTEXTS];
  uint32_t *slots_[N_CONTEXTS];
  uint32_t first_[N_CONTEXTS], second_[N_CONTEXTS];
  int inputs_[N_INPUTS + 1], layer_[N_MIXERS + 3], selectors_[N_MIXERS + 1];
  int r_ = 0, c_ = 0, neighbours_ = 0, prior_stretch_ = 0;
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

// The prior from Python's (rows_above, half_width, left, position_dims, hidden, layers, rate, weights):
// weights are local-ar's CausalNet tensors as little-endian float32, in its state_dict's order
// (position embedding, masked weight and bias, each block's weight and bias, output weight and bias).
bool build_prior(PyObject *spec, Prior &prior) {
  int rows_above, half_width, left, position_dims, hidden, layers;
  float rate;
  Py_buffer buffer;
  if (!PyArg_ParseTuple(spec, "iiiiiify*", &rows_above, &half_width, &left, &position_dims, &hidden, &layers, &rate,
                        &buffer))
    return false;
  bool valid = rows_above >= 1 && rows_above <= 8 && half_width >= 1 && half_width <= 8 && left >= 0 &&
               left <= half_width && position_dims >= 1 && position_dims <= 64 && hidden >= 1 && hidden <= 1024 &&
               layers >= 0 && layers <= 8 && rate >= 0 && rate < 1;
  int size = rows_above * (2 * half_width + 1) + left;
  size_t expected = size_t(PIXELS) * position_dims + size_t(hidden) * (size + position_dims) + hidden +
                    size_t(layers) * (size_t(hidden) * hidden + hidden) + size_t(NODES) * hidden + NODES;
  if (!valid || size_t(buffer.len) != expected * sizeof(float)) {
    PyBuffer_Release(&buffer);
    PyErr_SetString(PyExc_ValueError, "context mixing: the prior's shape or weights are not a local-ar network");
    return false;
  }
  std::vector<float> w(expected);
  std::memcpy(w.data(), buffer.buf, buffer.len);
  PyBuffer_Release(&buffer);
  const float *position = w.data(), *masked = position + size_t(PIXELS) * position_dims;
  const float *masked_bias = masked + size_t(hidden) * (size + position_dims), *next = masked_bias + hidden;
  int fan_in = size + position_dims;
  prior.rows_above = rows_above, prior.half_width = half_width, prior.left = left, prior.size = size;
  prior.hidden = hidden, prior.layers = layers, prior.rate = rate;
  prior.width = SIDE + 2 * half_width;
  prior.first.resize(size_t(size) * hidden);
  for (int i = 0; i < size; i++)
    for (int j = 0; j < hidden; j++) prior.first[size_t(i) * hidden + j] = masked[size_t(j) * fan_in + i] / 255.0f;
  prior.bias.resize(size_t(PIXELS) * hidden);
  for (int t = 0; t < PIXELS; t++)
    for (int j = 0; j < hidden; j++) {
      float sum = masked_bias[j];
      for (int d = 0; d < position_dims; d++) sum += position[size_t(t) * position_dims + d] * masked[size_t(j) * fan_in + size + d];
      prior.bias[size_t(t) * hidden + j] = sum;
    }
  prior.block_w.resize(size_t(layers) * hidden * hidden);
  prior.block_b.resize(size_t(layers) * hidden);
  for (int l = 0; l < layers; l++) {
    for (int i = 0; i < hidden; i++)
      for (int j = 0; j < hidden; j++) prior.block_w[(size_t(l) * hidden + i) * hidden + j] = next[size_t(j) * hidden + i];
    next += size_t(hidden) * hidden;
    std::copy(next, next + hidden, &prior.block_b[size_t(l) * hidden]);
    next += hidden;
  }
  prior.out_w.resize(size_t(hidden) * NODES);
  for (int j = 0; j < hidden; j++)
    for (int k = 0; k < NODES; k++) prior.out_w[size_t(j) * NODES + k] = next[size_t(k) * hidden + j];
  next += size_t(NODES) * hidden;
  prior.out_b.assign(next, next + NODES);
  // Each position's window: `rows_above` rows of 2*half_width+1 above, `left` to the left (local-ar's order).
  prior.offsets.resize(size_t(PIXELS) * size);
  for (int t = 0; t < PIXELS; t++) {
    int *o = &prior.offsets[size_t(t) * size], r = t / SIDE, c = t % SIDE;
    for (int dr = -rows_above; dr < 0; dr++)
      for (int dc = -half_width; dc <= half_width; dc++) *o++ = prior.frame_cell(r + dr, c + dc);
    for (int d = left; d > 0; d--) *o++ = prior.frame_cell(r, c - d);
  }
  prior.frame.assign(size_t(SIDE + rows_above) * prior.width, 0);
  prior.a.resize(hidden), prior.h.resize(hidden), prior.q.resize(NODES), prior.cum.assign(NODES + 1, 0.0);
  return true;
}

bool check_settings(int flags, int table_bits) {
  if (flags < 0 || flags > ALL_FLAGS || table_bits < 10 || table_bits > 24) {
    PyErr_SetString(PyExc_ValueError, "context mixing: flags must be 0..15 and table_bits 10..24");
    return false;
  }
  return true;
}

// The arguments encode and decode share: bytes, image count, flags, table size and the prior (None:
// weightless). False, with the buffer released and a Python error set, when they are not valid.
bool parse_call(PyObject *args, Py_buffer &buffer, Py_ssize_t &n_images, int &flags, int &table_bits, Prior &prior,
                bool &has_prior) {
  PyObject *spec = Py_None;
  if (!PyArg_ParseTuple(args, "y*nii|O", &buffer, &n_images, &flags, &table_bits, &spec)) return false;
  has_prior = spec != Py_None;
  if ((has_prior && !build_prior(spec, prior)) || !check_settings(flags, table_bits) || n_images < 0) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "context mixing: n_images must be 0 or more");
    PyBuffer_Release(&buffer);
    return false;
  }
  return true;
}

PyObject *py_encode(PyObject *, PyObject *args) {
  Py_buffer buffer;
  Py_ssize_t n_images;
  int flags, table_bits;
  Prior prior;
  bool has_prior;
  if (!parse_call(args, buffer, n_images, flags, table_bits, prior, has_prior)) return nullptr;
  if (buffer.len != n_images * PIXELS) {
    PyErr_SetString(PyExc_ValueError, "context mixing: expected n_images * 784 pixel bytes");
    PyBuffer_Release(&buffer);
    return nullptr;
  }
  std::vector<uint8_t> pixels(static_cast<const uint8_t *>(buffer.buf), static_cast<const uint8_t *>(buffer.buf) + buffer.len);
  PyBuffer_Release(&buffer);
  std::string stream;
  double ideal = 0;
  Py_BEGIN_ALLOW_THREADS
  Model model(flags, table_bits, has_prior ? &prior : nullptr);
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
  Prior prior;
  bool has_prior;
  if (!parse_call(args, buffer, n_images, flags, table_bits, prior, has_prior)) return nullptr;
  std::vector<uint8_t> pixels(size_t(n_images) * PIXELS);
  size_t overrun;
  Py_BEGIN_ALLOW_THREADS
  Model model(flags, table_bits, has_prior ? &prior : nullptr);
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

// The prior's 256 probabilities of each pixel of one image, as the coder sees them (NaN where the
// window is blank and the network is not asked): for the test that it computes local-ar's network.
PyObject *py_predict(PyObject *, PyObject *args) {
  Py_buffer buffer;
  PyObject *spec;
  if (!PyArg_ParseTuple(args, "y*O", &buffer, &spec)) return nullptr;
  Prior prior;
  bool built = build_prior(spec, prior);
  if (built && buffer.len != PIXELS) {
    PyErr_SetString(PyExc_ValueError, "context mixing: predict takes one image of 784 pixel bytes");
    built = false;
  }
  std::vector<uint8_t> image(built ? PIXELS : 0);
  if (built) std::memcpy(image.data(), buffer.buf, PIXELS);
  PyBuffer_Release(&buffer);
  if (!built) return nullptr;
  std::vector<float> out(size_t(PIXELS) * NODES, NAN);
  prior.start_image();
  for (int t = 0; t < PIXELS; t++) {
    prior.predict(t / SIDE, t % SIDE);
    if (prior.busy) std::copy(prior.q.begin(), prior.q.end(), &out[size_t(t) * NODES]);
    prior.learn(image[t]);
  }
  return PyBytes_FromStringAndSize(reinterpret_cast<const char *>(out.data()), Py_ssize_t(out.size() * sizeof(float)));
}

PyMethodDef methods[] = {
    {"encode", py_encode, METH_VARARGS, "encode(pixels, n_images, flags, table_bits, prior=None) -> (stream, ideal_bits)"},
    {"decode", py_decode, METH_VARARGS, "decode(stream, n_images, flags, table_bits, prior=None) -> pixels"},
    {"predict", py_predict, METH_VARARGS, "predict(image, prior) -> float32 (784, 256) probabilities"},
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
