// Copyright 2011 Google Inc. All Rights Reserved.
//
// Use of this source code is governed by a BSD-style license
// that can be found in the COPYING file in the root of the source
// tree. An additional intellectual property rights grant can be found
// in the file PATENTS. All contributing project authors may
// be found in the AUTHORS file in the root of the source tree.
// -----------------------------------------------------------------------------
//
//   frame coding and analysis
//
// Author: Skal (pascal.massimino@gmail.com)

#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE   // sched_getcpu(), pthread_attr_setaffinity_np()
#endif
#include <assert.h>
#include <string.h>
#include <math.h>

#include "src/enc/cost_enc.h"
#include "src/enc/vp8i_enc.h"
#include "src/dsp/dsp.h"
#include "src/webp/format_constants.h"  // RIFF constants

#define SEGMENT_VISU 0
#define DEBUG_SEARCH 0    // useful to track search convergence

//------------------------------------------------------------------------------
// multi-pass convergence

#define HEADER_SIZE_ESTIMATE (RIFF_HEADER_SIZE + CHUNK_HEADER_SIZE +  \
                              VP8_FRAME_HEADER_SIZE)
#define DQ_LIMIT 0.4  // convergence is considered reached if dq < DQ_LIMIT
// we allow 2k of extra head-room in PARTITION0 limit.
#define PARTITION0_SIZE_LIMIT ((VP8_MAX_PARTITION0_SIZE - 2048ULL) << 11)

static float Clamp(float v, float min, float max) {
  return (v < min) ? min : (v > max) ? max : v;
}

typedef struct {  // struct for organizing convergence in either size or PSNR
  int is_first;
  float dq;
  float q, last_q;
  float qmin, qmax;
  double value, last_value;   // PSNR or size
  double target;
  int do_size_search;
} PassStats;

static int InitPassStats(const VP8Encoder* const enc, PassStats* const s) {
  const uint64_t target_size = (uint64_t)enc->config_->target_size;
  const int do_size_search = (target_size != 0);
  const float target_PSNR = enc->config_->target_PSNR;

  s->is_first = 1;
  s->dq = 10.f;
  s->qmin = 1.f * enc->config_->qmin;
  s->qmax = 1.f * enc->config_->qmax;
  s->q = s->last_q = Clamp(enc->config_->quality, s->qmin, s->qmax);
  s->target = do_size_search ? (double)target_size
            : (target_PSNR > 0.) ? target_PSNR
            : 40.;   // default, just in case
  s->value = s->last_value = 0.;
  s->do_size_search = do_size_search;
  return do_size_search;
}

static float ComputeNextQ(PassStats* const s) {
  float dq;
  if (s->is_first) {
    dq = (s->value > s->target) ? -s->dq : s->dq;
    s->is_first = 0;
  } else if (s->value != s->last_value) {
    const double slope = (s->target - s->value) / (s->last_value - s->value);
    dq = (float)(slope * (s->last_q - s->q));
  } else {
    dq = 0.;  // we're done?!
  }
  // Limit variable to avoid large swings.
  s->dq = Clamp(dq, -30.f, 30.f);
  s->last_q = s->q;
  s->last_value = s->value;
  s->q = Clamp(s->q + s->dq, s->qmin, s->qmax);
  return s->q;
}

//------------------------------------------------------------------------------
// Tables for level coding

const uint8_t VP8Cat3[] = { 173, 148, 140 };
const uint8_t VP8Cat4[] = { 176, 155, 140, 135 };
const uint8_t VP8Cat5[] = { 180, 157, 141, 134, 130 };
const uint8_t VP8Cat6[] =
    { 254, 254, 243, 230, 196, 177, 153, 140, 133, 130, 129 };

//------------------------------------------------------------------------------
// Reset the statistics about: number of skips, token proba, level cost,...

static void ResetStats(VP8Encoder* const enc) {
  VP8EncProba* const proba = &enc->proba_;
  VP8CalculateLevelCosts(proba);
  proba->nb_skip_ = 0;
}

//------------------------------------------------------------------------------
// Skip decision probability

#define SKIP_PROBA_THRESHOLD 250  // value below which using skip_proba is OK.

static int CalcSkipProba(uint64_t nb, uint64_t total) {
  return (int)(total ? (total - nb) * 255 / total : 255);
}

// Returns the bit-cost for coding the skip probability.
static int FinalizeSkipProba(VP8Encoder* const enc) {
  VP8EncProba* const proba = &enc->proba_;
  const int nb_mbs = enc->mb_w_ * enc->mb_h_;
  const int nb_events = proba->nb_skip_;
  int size;
  proba->skip_proba_ = CalcSkipProba(nb_events, nb_mbs);
  proba->use_skip_proba_ = (proba->skip_proba_ < SKIP_PROBA_THRESHOLD);
  size = 256;   // 'use_skip_proba' bit
  if (proba->use_skip_proba_) {
    size +=  nb_events * VP8BitCost(1, proba->skip_proba_)
         + (nb_mbs - nb_events) * VP8BitCost(0, proba->skip_proba_);
    size += 8 * 256;   // cost of signaling the skip_proba_ itself.
  }
  return size;
}

// Collect statistics and deduce probabilities for next coding pass.
// Return the total bit-cost for coding the probability updates.
static int CalcTokenProba(int nb, int total) {
  assert(nb <= total);
  return nb ? (255 - nb * 255 / total) : 255;
}

// Cost of coding 'nb' 1's and 'total-nb' 0's using 'proba' probability.
static int BranchCost(int nb, int total, int proba) {
  return nb * VP8BitCost(1, proba) + (total - nb) * VP8BitCost(0, proba);
}

static void ResetTokenStats(VP8Encoder* const enc) {
  VP8EncProba* const proba = &enc->proba_;
  memset(proba->stats_, 0, sizeof(proba->stats_));
}

static int FinalizeTokenProbas(VP8EncProba* const proba) {
  int has_changed = 0;
  int size = 0;
  int t, b, c, p;
  for (t = 0; t < NUM_TYPES; ++t) {
    for (b = 0; b < NUM_BANDS; ++b) {
      for (c = 0; c < NUM_CTX; ++c) {
        for (p = 0; p < NUM_PROBAS; ++p) {
          const proba_t stats = proba->stats_[t][b][c][p];
          const int nb = (stats >> 0) & 0xffff;
          const int total = (stats >> 16) & 0xffff;
          const int update_proba = VP8CoeffsUpdateProba[t][b][c][p];
          const int old_p = VP8CoeffsProba0[t][b][c][p];
          const int new_p = CalcTokenProba(nb, total);
          const int old_cost = BranchCost(nb, total, old_p)
                             + VP8BitCost(0, update_proba);
          const int new_cost = BranchCost(nb, total, new_p)
                             + VP8BitCost(1, update_proba)
                             + 8 * 256;
          const int use_new_p = (old_cost > new_cost);
          size += VP8BitCost(use_new_p, update_proba);
          if (use_new_p) {  // only use proba that seem meaningful enough.
            proba->coeffs_[t][b][c][p] = new_p;
            has_changed |= (new_p != old_p);
            size += 8 * 256;
          } else {
            proba->coeffs_[t][b][c][p] = old_p;
          }
        }
      }
    }
  }
  proba->dirty_ = has_changed;
  return size;
}

//------------------------------------------------------------------------------
// Finalize Segment probability based on the coding tree

static int GetProba(int a, int b) {
  const int total = a + b;
  return (total == 0) ? 255     // that's the default probability.
                      : (255 * a + total / 2) / total;  // rounded proba
}

static void ResetSegments(VP8Encoder* const enc) {
  int n;
  for (n = 0; n < enc->mb_w_ * enc->mb_h_; ++n) {
    enc->mb_info_[n].segment_ = 0;
  }
}

static void SetSegmentProbas(VP8Encoder* const enc) {
  int p[NUM_MB_SEGMENTS] = { 0 };
  int n;

  for (n = 0; n < enc->mb_w_ * enc->mb_h_; ++n) {
    const VP8MBInfo* const mb = &enc->mb_info_[n];
    ++p[mb->segment_];
  }
#if !defined(WEBP_DISABLE_STATS)
  if (enc->pic_->stats != NULL) {
    for (n = 0; n < NUM_MB_SEGMENTS; ++n) {
      enc->pic_->stats->segment_size[n] = p[n];
    }
  }
#endif
  if (enc->segment_hdr_.num_segments_ > 1) {
    uint8_t* const probas = enc->proba_.segments_;
    probas[0] = GetProba(p[0] + p[1], p[2] + p[3]);
    probas[1] = GetProba(p[0], p[1]);
    probas[2] = GetProba(p[2], p[3]);

    enc->segment_hdr_.update_map_ =
        (probas[0] != 255) || (probas[1] != 255) || (probas[2] != 255);
    if (!enc->segment_hdr_.update_map_) ResetSegments(enc);
    enc->segment_hdr_.size_ =
        p[0] * (VP8BitCost(0, probas[0]) + VP8BitCost(0, probas[1])) +
        p[1] * (VP8BitCost(0, probas[0]) + VP8BitCost(1, probas[1])) +
        p[2] * (VP8BitCost(1, probas[0]) + VP8BitCost(0, probas[2])) +
        p[3] * (VP8BitCost(1, probas[0]) + VP8BitCost(1, probas[2]));
  } else {
    enc->segment_hdr_.update_map_ = 0;
    enc->segment_hdr_.size_ = 0;
  }
}

//------------------------------------------------------------------------------
// Coefficient coding

static int PutCoeffs(VP8BitWriter* const bw, int ctx, const VP8Residual* res) {
  int n = res->first;
  // should be prob[VP8EncBands[n]], but it's equivalent for n=0 or 1
  const uint8_t* p = res->prob[n][ctx];
  if (!VP8PutBit(bw, res->last >= 0, p[0])) {
    return 0;
  }

  while (n < 16) {
    const int c = res->coeffs[n++];
    const int sign = c < 0;
    int v = sign ? -c : c;
    if (!VP8PutBit(bw, v != 0, p[1])) {
      p = res->prob[VP8EncBands[n]][0];
      continue;
    }
    if (!VP8PutBit(bw, v > 1, p[2])) {
      p = res->prob[VP8EncBands[n]][1];
    } else {
      if (!VP8PutBit(bw, v > 4, p[3])) {
        if (VP8PutBit(bw, v != 2, p[4])) {
          VP8PutBit(bw, v == 4, p[5]);
        }
      } else if (!VP8PutBit(bw, v > 10, p[6])) {
        if (!VP8PutBit(bw, v > 6, p[7])) {
          VP8PutBit(bw, v == 6, 159);
        } else {
          VP8PutBit(bw, v >= 9, 165);
          VP8PutBit(bw, !(v & 1), 145);
        }
      } else {
        int mask;
        const uint8_t* tab;
        if (v < 3 + (8 << 1)) {          // VP8Cat3  (3b)
          VP8PutBit(bw, 0, p[8]);
          VP8PutBit(bw, 0, p[9]);
          v -= 3 + (8 << 0);
          mask = 1 << 2;
          tab = VP8Cat3;
        } else if (v < 3 + (8 << 2)) {   // VP8Cat4  (4b)
          VP8PutBit(bw, 0, p[8]);
          VP8PutBit(bw, 1, p[9]);
          v -= 3 + (8 << 1);
          mask = 1 << 3;
          tab = VP8Cat4;
        } else if (v < 3 + (8 << 3)) {   // VP8Cat5  (5b)
          VP8PutBit(bw, 1, p[8]);
          VP8PutBit(bw, 0, p[10]);
          v -= 3 + (8 << 2);
          mask = 1 << 4;
          tab = VP8Cat5;
        } else {                         // VP8Cat6 (11b)
          VP8PutBit(bw, 1, p[8]);
          VP8PutBit(bw, 1, p[10]);
          v -= 3 + (8 << 3);
          mask = 1 << 10;
          tab = VP8Cat6;
        }
        while (mask) {
          VP8PutBit(bw, !!(v & mask), *tab++);
          mask >>= 1;
        }
      }
      p = res->prob[VP8EncBands[n]][2];
    }
    VP8PutBitUniform(bw, sign);
    if (n == 16 || !VP8PutBit(bw, n <= res->last, p[0])) {
      return 1;   // EOB
    }
  }
  return 1;
}

static void CodeResiduals(VP8BitWriter* const bw, VP8EncIterator* const it,
                          const VP8ModeScore* const rd) {
  int x, y, ch;
  VP8Residual res;
  uint64_t pos1, pos2, pos3;
  const int i16 = (it->mb_->type_ == 1);
  const int segment = it->mb_->segment_;
  VP8Encoder* const enc = it->enc_;

  VP8IteratorNzToBytes(it);

  pos1 = VP8BitWriterPos(bw);
  if (i16) {
    VP8InitResidual(0, 1, enc, &res);
    VP8SetResidualCoeffs(rd->y_dc_levels, &res);
    it->top_nz_[8] = it->left_nz_[8] =
      PutCoeffs(bw, it->top_nz_[8] + it->left_nz_[8], &res);
    VP8InitResidual(1, 0, enc, &res);
  } else {
    VP8InitResidual(0, 3, enc, &res);
  }

  // luma-AC
  for (y = 0; y < 4; ++y) {
    for (x = 0; x < 4; ++x) {
      const int ctx = it->top_nz_[x] + it->left_nz_[y];
      VP8SetResidualCoeffs(rd->y_ac_levels[x + y * 4], &res);
      it->top_nz_[x] = it->left_nz_[y] = PutCoeffs(bw, ctx, &res);
    }
  }
  pos2 = VP8BitWriterPos(bw);

  // U/V
  VP8InitResidual(0, 2, enc, &res);
  for (ch = 0; ch <= 2; ch += 2) {
    for (y = 0; y < 2; ++y) {
      for (x = 0; x < 2; ++x) {
        const int ctx = it->top_nz_[4 + ch + x] + it->left_nz_[4 + ch + y];
        VP8SetResidualCoeffs(rd->uv_levels[ch * 2 + x + y * 2], &res);
        it->top_nz_[4 + ch + x] = it->left_nz_[4 + ch + y] =
            PutCoeffs(bw, ctx, &res);
      }
    }
  }
  pos3 = VP8BitWriterPos(bw);
  it->luma_bits_ = pos2 - pos1;
  it->uv_bits_ = pos3 - pos2;
  it->bit_count_[segment][i16] += it->luma_bits_;
  it->bit_count_[segment][2] += it->uv_bits_;
  VP8IteratorBytesToNz(it);
}

// Same as CodeResiduals, but doesn't actually write anything.
// Instead, it just records the event distribution.
static void RecordResiduals(VP8EncIterator* const it,
                            const VP8ModeScore* const rd) {
  int x, y, ch;
  VP8Residual res;
  VP8Encoder* const enc = it->enc_;

  VP8IteratorNzToBytes(it);

  if (it->mb_->type_ == 1) {   // i16x16
    VP8InitResidual(0, 1, enc, &res);
    VP8SetResidualCoeffs(rd->y_dc_levels, &res);
    it->top_nz_[8] = it->left_nz_[8] =
      VP8RecordCoeffs(it->top_nz_[8] + it->left_nz_[8], &res);
    VP8InitResidual(1, 0, enc, &res);
  } else {
    VP8InitResidual(0, 3, enc, &res);
  }

  // luma-AC
  for (y = 0; y < 4; ++y) {
    for (x = 0; x < 4; ++x) {
      const int ctx = it->top_nz_[x] + it->left_nz_[y];
      VP8SetResidualCoeffs(rd->y_ac_levels[x + y * 4], &res);
      it->top_nz_[x] = it->left_nz_[y] = VP8RecordCoeffs(ctx, &res);
    }
  }

  // U/V
  VP8InitResidual(0, 2, enc, &res);
  for (ch = 0; ch <= 2; ch += 2) {
    for (y = 0; y < 2; ++y) {
      for (x = 0; x < 2; ++x) {
        const int ctx = it->top_nz_[4 + ch + x] + it->left_nz_[4 + ch + y];
        VP8SetResidualCoeffs(rd->uv_levels[ch * 2 + x + y * 2], &res);
        it->top_nz_[4 + ch + x] = it->left_nz_[4 + ch + y] =
            VP8RecordCoeffs(ctx, &res);
      }
    }
  }

  VP8IteratorBytesToNz(it);
}

//------------------------------------------------------------------------------
// Token buffer

#if !defined(DISABLE_TOKEN_BUFFER)

// VP8InitResidual(), with the statistics recorded in 'stats' instead of the
// encoder's if it is not NULL.
static void InitTokenResidual(int first, int coeff_type, VP8Encoder* const enc,
                              StatsArray (*const stats)[NUM_BANDS],
                              VP8Residual* const res) {
  VP8InitResidual(first, coeff_type, enc, res);
  if (stats != NULL) res->stats = stats[coeff_type];
}

// 'stats': see InitTokenResidual().
static int RecordTokens(VP8EncIterator* const it, const VP8ModeScore* const rd,
                        VP8TBuffer* const tokens,
                        StatsArray (*const stats)[NUM_BANDS]) {
  int x, y, ch;
  VP8Residual res;
  VP8Encoder* const enc = it->enc_;

  VP8IteratorNzToBytes(it);
  if (it->mb_->type_ == 1) {   // i16x16
    const int ctx = it->top_nz_[8] + it->left_nz_[8];
    InitTokenResidual(0, 1, enc, stats, &res);
    VP8SetResidualCoeffs(rd->y_dc_levels, &res);
    it->top_nz_[8] = it->left_nz_[8] =
        VP8RecordCoeffTokens(ctx, &res, tokens);
    InitTokenResidual(1, 0, enc, stats, &res);
  } else {
    InitTokenResidual(0, 3, enc, stats, &res);
  }

  // luma-AC
  for (y = 0; y < 4; ++y) {
    for (x = 0; x < 4; ++x) {
      const int ctx = it->top_nz_[x] + it->left_nz_[y];
      VP8SetResidualCoeffs(rd->y_ac_levels[x + y * 4], &res);
      it->top_nz_[x] = it->left_nz_[y] =
          VP8RecordCoeffTokens(ctx, &res, tokens);
    }
  }

  // U/V
  InitTokenResidual(0, 2, enc, stats, &res);
  for (ch = 0; ch <= 2; ch += 2) {
    for (y = 0; y < 2; ++y) {
      for (x = 0; x < 2; ++x) {
        const int ctx = it->top_nz_[4 + ch + x] + it->left_nz_[4 + ch + y];
        VP8SetResidualCoeffs(rd->uv_levels[ch * 2 + x + y * 2], &res);
        it->top_nz_[4 + ch + x] = it->left_nz_[4 + ch + y] =
            VP8RecordCoeffTokens(ctx, &res, tokens);
      }
    }
  }
  VP8IteratorBytesToNz(it);
  return !tokens->error_;
}

#endif    // !DISABLE_TOKEN_BUFFER

//------------------------------------------------------------------------------
// ExtraInfo map / Debug function

#if !defined(WEBP_DISABLE_STATS)

#if SEGMENT_VISU
static void SetBlock(uint8_t* p, int value, int size) {
  int y;
  for (y = 0; y < size; ++y) {
    memset(p, value, size);
    p += BPS;
  }
}
#endif

static void ResetSSE(VP8Encoder* const enc) {
  enc->sse_[0] = 0;
  enc->sse_[1] = 0;
  enc->sse_[2] = 0;
  // Note: enc->sse_[3] is managed by alpha.c
  enc->sse_count_ = 0;
}

static void StoreSSE(const VP8EncIterator* const it) {
  VP8Encoder* const enc = it->enc_;
  const uint8_t* const in = it->yuv_in_;
  const uint8_t* const out = it->yuv_out_;
  // Note: not totally accurate at boundary. And doesn't include in-loop filter.
  enc->sse_[0] += VP8SSE16x16(in + Y_OFF_ENC, out + Y_OFF_ENC);
  enc->sse_[1] += VP8SSE8x8(in + U_OFF_ENC, out + U_OFF_ENC);
  enc->sse_[2] += VP8SSE8x8(in + V_OFF_ENC, out + V_OFF_ENC);
  enc->sse_count_ += 16 * 16;
}

static void StoreSideInfo(const VP8EncIterator* const it) {
  VP8Encoder* const enc = it->enc_;
  const VP8MBInfo* const mb = it->mb_;
  WebPPicture* const pic = enc->pic_;

  if (pic->stats != NULL) {
    StoreSSE(it);
    enc->block_count_[0] += (mb->type_ == 0);
    enc->block_count_[1] += (mb->type_ == 1);
    enc->block_count_[2] += (mb->skip_ != 0);
  }

  if (pic->extra_info != NULL) {
    uint8_t* const info = &pic->extra_info[it->x_ + it->y_ * enc->mb_w_];
    switch (pic->extra_info_type) {
      case 1: *info = mb->type_; break;
      case 2: *info = mb->segment_; break;
      case 3: *info = enc->dqm_[mb->segment_].quant_; break;
      case 4: *info = (mb->type_ == 1) ? it->preds_[0] : 0xff; break;
      case 5: *info = mb->uv_mode_; break;
      case 6: {
        const int b = (int)((it->luma_bits_ + it->uv_bits_ + 7) >> 3);
        *info = (b > 255) ? 255 : b; break;
      }
      case 7: *info = mb->alpha_; break;
      default: *info = 0; break;
    }
  }
#if SEGMENT_VISU  // visualize segments and prediction modes
  SetBlock(it->yuv_out_ + Y_OFF_ENC, mb->segment_ * 64, 16);
  SetBlock(it->yuv_out_ + U_OFF_ENC, it->preds_[0] * 64, 8);
  SetBlock(it->yuv_out_ + V_OFF_ENC, mb->uv_mode_ * 64, 8);
#endif
}

static void ResetSideInfo(const VP8EncIterator* const it) {
  VP8Encoder* const enc = it->enc_;
  WebPPicture* const pic = enc->pic_;
  if (pic->stats != NULL) {
    memset(enc->block_count_, 0, sizeof(enc->block_count_));
  }
  ResetSSE(enc);
}
#else  // defined(WEBP_DISABLE_STATS)
static void ResetSSE(VP8Encoder* const enc) {
  (void)enc;
}
static void StoreSideInfo(const VP8EncIterator* const it) {
  VP8Encoder* const enc = it->enc_;
  WebPPicture* const pic = enc->pic_;
  if (pic->extra_info != NULL) {
    if (it->x_ == 0 && it->y_ == 0) {   // only do it once, at start
      memset(pic->extra_info, 0,
             enc->mb_w_ * enc->mb_h_ * sizeof(*pic->extra_info));
    }
  }
}

static void ResetSideInfo(const VP8EncIterator* const it) {
  (void)it;
}
#endif  // !defined(WEBP_DISABLE_STATS)

static double GetPSNR(uint64_t mse, uint64_t size) {
  return (mse > 0 && size > 0) ? 10. * log10(255. * 255. * size / mse) : 99;
}

//------------------------------------------------------------------------------
//  StatLoop(): only collect statistics (number of skips, token usage, ...).
//  This is used for deciding optimal probabilities. It also modifies the
//  quantizer value if some target (size, PSNR) was specified.

static void SetLoopParams(VP8Encoder* const enc, float q) {
  // Make sure the quality parameter is inside valid bounds
  q = Clamp(q, 0.f, 100.f);

  VP8SetSegmentParams(enc, q);      // setup segment quantizations and filters
  SetSegmentProbas(enc);            // compute segment probabilities

  ResetStats(enc);
  ResetSSE(enc);
}

static uint64_t OneStatPass(VP8Encoder* const enc, VP8RDLevel rd_opt,
                            int nb_mbs, int percent_delta,
                            PassStats* const s) {
  VP8EncIterator it;
  uint64_t size = 0;
  uint64_t size_p0 = 0;
  uint64_t distortion = 0;
  const uint64_t pixel_count = nb_mbs * 384;

  VP8IteratorInit(enc, &it);
  SetLoopParams(enc, s->q);
  do {
    VP8ModeScore info;
    VP8IteratorImport(&it, NULL);
    if (VP8Decimate(&it, &info, rd_opt)) {
      // Just record the number of skips and act like skip_proba is not used.
      ++enc->proba_.nb_skip_;
    }
    RecordResiduals(&it, &info);
    size += info.R + info.H;
    size_p0 += info.H;
    distortion += info.D;
    if (percent_delta && !VP8IteratorProgress(&it, percent_delta)) {
      return 0;
    }
    VP8IteratorSaveBoundary(&it);
  } while (VP8IteratorNext(&it) && --nb_mbs > 0);

  size_p0 += enc->segment_hdr_.size_;
  if (s->do_size_search) {
    size += FinalizeSkipProba(enc);
    size += FinalizeTokenProbas(&enc->proba_);
    size = ((size + size_p0 + 1024) >> 11) + HEADER_SIZE_ESTIMATE;
    s->value = (double)size;
  } else {
    s->value = GetPSNR(distortion, pixel_count);
  }
  return size_p0;
}

static int StatLoop(VP8Encoder* const enc) {
  const int method = enc->method_;
  const int do_search = enc->do_search_;
  const int fast_probe = ((method == 0 || method == 3) && !do_search);
  int num_pass_left = enc->config_->pass;
  const int task_percent = 20;
  const int percent_per_pass =
      (task_percent + num_pass_left / 2) / num_pass_left;
  const int final_percent = enc->percent_ + task_percent;
  const VP8RDLevel rd_opt =
      (method >= 3 || do_search) ? RD_OPT_BASIC : RD_OPT_NONE;
  int nb_mbs = enc->mb_w_ * enc->mb_h_;
  PassStats stats;

  InitPassStats(enc, &stats);
  ResetTokenStats(enc);

  // Fast mode: quick analysis pass over few mbs. Better than nothing.
  if (fast_probe) {
    if (method == 3) {  // we need more stats for method 3 to be reliable.
      nb_mbs = (nb_mbs > 200) ? nb_mbs >> 1 : 100;
    } else {
      nb_mbs = (nb_mbs > 200) ? nb_mbs >> 2 : 50;
    }
  }

  while (num_pass_left-- > 0) {
    const int is_last_pass = (fabs(stats.dq) <= DQ_LIMIT) ||
                             (num_pass_left == 0) ||
                             (enc->max_i4_header_bits_ == 0);
    const uint64_t size_p0 =
        OneStatPass(enc, rd_opt, nb_mbs, percent_per_pass, &stats);
    if (size_p0 == 0) return 0;
#if (DEBUG_SEARCH > 0)
    printf("#%d value:%.1lf -> %.1lf   q:%.2f -> %.2f\n",
           num_pass_left, stats.last_value, stats.value, stats.last_q, stats.q);
#endif
    if (enc->max_i4_header_bits_ > 0 && size_p0 > PARTITION0_SIZE_LIMIT) {
      ++num_pass_left;
      enc->max_i4_header_bits_ >>= 1;  // strengthen header bit limitation...
      continue;                        // ...and start over
    }
    if (is_last_pass) {
      break;
    }
    // If no target size: just do several pass without changing 'q'
    if (do_search) {
      ComputeNextQ(&stats);
      if (fabs(stats.dq) <= DQ_LIMIT) break;
    }
  }
  if (!do_search || !stats.do_size_search) {
    // Need to finalize probas now, since it wasn't done during the search.
    FinalizeSkipProba(enc);
    FinalizeTokenProbas(&enc->proba_);
  }
  VP8CalculateLevelCosts(&enc->proba_);  // finalize costs
  return WebPReportProgress(enc->pic_, final_percent, &enc->percent_);
}

//------------------------------------------------------------------------------
// Main loops
//

static const uint8_t kAverageBytesPerMB[8] = { 50, 24, 16, 9, 7, 5, 3, 2 };

static int PreLoopInitialize(VP8Encoder* const enc) {
  int p;
  int ok = 1;
  const int average_bytes_per_MB = kAverageBytesPerMB[enc->base_quant_ >> 4];
  const int bytes_per_parts =
      enc->mb_w_ * enc->mb_h_ * average_bytes_per_MB / enc->num_parts_;
  // Initialize the bit-writers
  for (p = 0; ok && p < enc->num_parts_; ++p) {
    ok = VP8BitWriterInit(enc->parts_ + p, bytes_per_parts);
  }
  if (!ok) {
    VP8EncFreeBitWriters(enc);  // malloc error occurred
    return WebPEncodingSetError(enc->pic_, VP8_ENC_ERROR_OUT_OF_MEMORY);
  }
  return ok;
}

static int PostLoopFinalize(VP8EncIterator* const it, int ok) {
  VP8Encoder* const enc = it->enc_;
  if (ok) {      // Finalize the partitions, check for extra errors.
    int p;
    for (p = 0; p < enc->num_parts_; ++p) {
      VP8BitWriterFinish(enc->parts_ + p);
      ok &= !enc->parts_[p].error_;
    }
  }

  if (ok) {      // All good. Finish up.
#if !defined(WEBP_DISABLE_STATS)
    if (enc->pic_->stats != NULL) {  // finalize byte counters...
      int i, s;
      for (i = 0; i <= 2; ++i) {
        for (s = 0; s < NUM_MB_SEGMENTS; ++s) {
          enc->residual_bytes_[i][s] = (int)((it->bit_count_[s][i] + 7) >> 3);
        }
      }
    }
#endif
    VP8AdjustFilterStrength(it);     // ...and store filter stats.
  } else {
    // Something bad happened -> need to do some memory cleanup.
    VP8EncFreeBitWriters(enc);
    return WebPEncodingSetError(enc->pic_, VP8_ENC_ERROR_OUT_OF_MEMORY);
  }
  return ok;
}

//------------------------------------------------------------------------------
//  VP8EncLoop(): does the final bitstream coding.

static void ResetAfterSkip(VP8EncIterator* const it) {
  if (it->mb_->type_ == 1) {
    *it->nz_ = 0;  // reset all predictors
    it->left_nz_[8] = 0;
  } else {
    *it->nz_ &= (1 << 24);  // preserve the dc_nz bit
  }
}

int VP8EncLoop(VP8Encoder* const enc) {
  VP8EncIterator it;
  int ok = PreLoopInitialize(enc);
  if (!ok) return 0;

  StatLoop(enc);  // stats-collection loop

  VP8IteratorInit(enc, &it);
  VP8InitFilter(&it);
  do {
    VP8ModeScore info;
    const int dont_use_skip = !enc->proba_.use_skip_proba_;
    const VP8RDLevel rd_opt = enc->rd_opt_level_;

    VP8IteratorImport(&it, NULL);
    // Warning! order is important: first call VP8Decimate() and
    // *then* decide how to code the skip decision if there's one.
    if (!VP8Decimate(&it, &info, rd_opt) || dont_use_skip) {
      CodeResiduals(it.bw_, &it, &info);
      if (it.bw_->error_) {
        // enc->pic_->error_code is set in PostLoopFinalize().
        ok = 0;
        break;
      }
    } else {   // reset predictors after a skip
      ResetAfterSkip(&it);
    }
    StoreSideInfo(&it);
    VP8StoreFilterStats(&it);
    VP8IteratorExport(&it);
    ok = VP8IteratorProgress(&it, 20);
    VP8IteratorSaveBoundary(&it);
  } while (ok && VP8IteratorNext(&it));

  return PostLoopFinalize(&it, ok);
}

//------------------------------------------------------------------------------
// Single pass using Token Buffer.

#if !defined(DISABLE_TOKEN_BUFFER)

#define MIN_COUNT 96  // minimum number of macroblocks before updating stats

#if WEBP_TWO_THREAD_TOKEN_LOOP

#include <pthread.h>
#include <sched.h>
#include <time.h>

// Whether the macroblock 'mb' (raster index) is preceded by a refresh of the
// cost tables, in a pass refreshing them every 'max_count' + 1 macroblocks
// (see VP8EncTokenLoop()'s 'cnt'), and how many refreshes precede it.
static int IsRefreshAt(int max_count, int mb) {
  return (mb >= max_count) && ((mb - max_count) % (max_count + 1) == 0);
}

static int RefreshesUpTo(int max_count, int mb) {
  return (mb < max_count) ? 0 : (mb - max_count) / (max_count + 1) + 1;
}

//------------------------------------------------------------------------------
// The token pass on two threads: the even macroblock rows on the calling thread,
// the odd ones on a second, each row kept two macroblocks behind the row above
// it (a macroblock is predicted from its left, top and top-right neighbours,
// and the top samples and contexts of a column are shared between rows). The
// output is the one-thread pass's, bit for bit:
//  - each row records its tokens in its own buffer; the rows are emitted in
//    order;
//  - the cost tables are refreshed before the same macroblocks as in the
//    one-thread pass, from the statistics of exactly the macroblocks before
//    them, added in raster order from the tokens (the statistics halve on
//    overflow, so their order matters); a macroblock after a refresh waits for
//    it, and a refresh waits for the row above to finish;
//  - what else the threads share are sums and a maximum, which do not depend
//    on order.

// Waits spin this many times first: a row usually waits a macroblock or two
// for the row above (about 20 us each)...
#define TWO_THREAD_SPINS 256
// ... then yield for this long (ms), so that the other thread can run should
// both have been put on one core, and then sleep. A refresh of the cost tables
// can keep the other thread waiting for up to a row (under a millisecond for
// 45 macroblocks).
#define TWO_THREAD_YIELD_MS 3.

typedef struct {
  VP8Encoder* enc;
  VP8RDLevel rd_opt;
  int max_count;
  VP8TBuffer* rows;        // each macroblock row's tokens
  size_t* mb_end;          // tokens in its row after each macroblock
  int* done;               // macroblocks finished in each row (atomic), see
                           // RowDone()
  int refreshes;           // cost-table refreshes made (atomic)
  int failed;              // set when a thread runs out of memory (atomic)
  int sleepers;            // threads sleeping on 'wake' (atomic)
  pthread_mutex_t lock;    // guards the sleep on 'wake'
  pthread_cond_t wake;
  pthread_mutex_t stats_lock;  // the statistics, and the cursor below:
  int stats_row;               // statistics added up to this row...
  size_t stats_token;          // ...and this token of it
} TwoThreadPass;

typedef struct {
  TwoThreadPass* pass;
  int first_row;           // the rows first_row, first_row + 2, ...
  VP8EncIterator it;
  uint64_t size_p0;
  uint64_t distortion;
  StatsArray scratch[NUM_TYPES][NUM_BANDS];  // statistics nobody reads
} TwoThreadRows;

// Each row's count of finished macroblocks is on a cache line of its own: two
// rows' counts, written by the two threads after every macroblock, on one line
// made it travel between the cores at every write.
#define DONE_STRIDE (64 / sizeof(int))

static WEBP_INLINE int* RowDone(TwoThreadPass* const p, int y) {
  return &p->done[y * DONE_STRIDE];
}

static double NowMs(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec * 1e3 + now.tv_nsec / 1e6;
}

static WEBP_INLINE void Pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static int HasFailed(TwoThreadPass* const p) {
  return __atomic_load_n(&p->failed, __ATOMIC_SEQ_CST);
}

// Waits until *value >= target, or a thread failed.
static void WaitFor(TwoThreadPass* const p, const int* const value,
                    int target) {
  int spins;
  double start = 0.;
  for (spins = 0;; ++spins) {
    if (__atomic_load_n(value, __ATOMIC_ACQUIRE) >= target || HasFailed(p)) {
      return;
    }
    if (spins < TWO_THREAD_SPINS) {
      Pause();
    } else {
      const double now = NowMs();
      if (start == 0.) start = now;
      if (now - start > TWO_THREAD_YIELD_MS) break;
      sched_yield();
    }
  }
  pthread_mutex_lock(&p->lock);
  __atomic_add_fetch(&p->sleepers, 1, __ATOMIC_SEQ_CST);
  while (__atomic_load_n(value, __ATOMIC_SEQ_CST) < target && !HasFailed(p)) {
    pthread_cond_wait(&p->wake, &p->lock);
  }
  __atomic_sub_fetch(&p->sleepers, 1, __ATOMIC_SEQ_CST);
  pthread_mutex_unlock(&p->lock);
}

// Sets *value, waking the other thread if it sleeps. With both the store and
// the waiter's count sequentially consistent, either the waiter sees the value
// before sleeping or this sees the waiter and wakes it.
static void Publish(TwoThreadPass* const p, int* const value, int v) {
  __atomic_store_n(value, v, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&p->sleepers, __ATOMIC_SEQ_CST) > 0) {
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
  }
}

static void Fail(TwoThreadPass* const p) {
  __atomic_store_n(&p->failed, 1, __ATOMIC_SEQ_CST);
  pthread_mutex_lock(&p->lock);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
}

static proba_t* FlatStats(VP8Encoder* const enc) {
  return &enc->proba_.stats_[0][0][0][0];
}

// Adds the statistics of the rows finished since the last call. Under
// stats_lock.
static void AddFinishedRows(TwoThreadPass* const p) {
  VP8Encoder* const enc = p->enc;
  while (p->stats_row < enc->mb_h_ &&
         __atomic_load_n(RowDone(p, p->stats_row), __ATOMIC_ACQUIRE) ==
             enc->mb_w_) {
    const VP8TBuffer* const row = &p->rows[p->stats_row];
    VP8TBufferRecordStats(row, p->stats_token, VP8TBufferCount(row),
                          FlatStats(enc));
    ++p->stats_row;
    p->stats_token = 0;
  }
}

// Refreshes the cost tables from the statistics of the macroblocks before
// 'mb', all finished: those of the rows above and of its own row's start.
static void RefreshCosts(TwoThreadPass* const p, int mb) {
  VP8Encoder* const enc = p->enc;
  const int x = mb % enc->mb_w_;
  pthread_mutex_lock(&p->stats_lock);
  AddFinishedRows(p);
  assert(p->stats_row == mb / enc->mb_w_);
  if (x > 0) {
    const size_t end = p->mb_end[mb - 1];
    VP8TBufferRecordStats(&p->rows[p->stats_row], p->stats_token, end,
                          FlatStats(enc));
    p->stats_token = end;
  }
  FinalizeTokenProbas(&enc->proba_);
  VP8CalculateLevelCosts(&enc->proba_);
  pthread_mutex_unlock(&p->stats_lock);
}

static void* CodeRows(void* const arg) {
  TwoThreadRows* const t = (TwoThreadRows*)arg;
  TwoThreadPass* const p = t->pass;
  VP8Encoder* const enc = p->enc;
  VP8EncIterator* const it = &t->it;
  const int mb_w = enc->mb_w_;
  int y;
  for (y = t->first_row; y < enc->mb_h_ && !HasFailed(p); y += 2) {
    VP8TBuffer* const tokens = &p->rows[y];
    int x;
    VP8IteratorSetRow(it, y);
    for (x = 0; x < mb_w; ++x) {
      const int mb = y * mb_w + x;
      VP8ModeScore info;
      if (y > 0) {
        WaitFor(p, RowDone(p, y - 1), (x + 2 < mb_w) ? x + 2 : mb_w);
      }
      if (IsRefreshAt(p->max_count, mb)) {
        if (y > 0) WaitFor(p, RowDone(p, y - 1), mb_w);
        if (HasFailed(p)) break;
        RefreshCosts(p, mb);
        Publish(p, &p->refreshes, RefreshesUpTo(p->max_count, mb));
      } else {
        WaitFor(p, &p->refreshes, RefreshesUpTo(p->max_count, mb));
      }
      if (HasFailed(p)) break;
      VP8IteratorImport(it, NULL);
      VP8Decimate(it, &info, p->rd_opt);
      if (!RecordTokens(it, &info, tokens, t->scratch)) {
        Fail(p);
        break;
      }
      t->size_p0 += info.H;
      t->distortion += info.D;
      VP8IteratorSaveBoundary(it);
      p->mb_end[mb] = VP8TBufferCount(tokens);
      VP8IteratorNext(it);
      Publish(p, RowDone(p, y), x + 1);
    }
    pthread_mutex_lock(&p->stats_lock);
    AddFinishedRows(p);
    pthread_mutex_unlock(&p->stats_lock);
  }
  return NULL;
}

// Whether the token pass can run on two threads: asked for, large enough to be
// worth a thread (rows narrower than 8 macroblocks, two of them behind the row
// above, leave little to do side by side, and each row holds a token page),
// one pass, and nothing recorded in picture order (progress, statistics, side
// information, filter statistics) that the rows would have to take turns at.
static int UseTwoThreads(const VP8Encoder* const enc) {
  const WebPPicture* const pic = enc->pic_;
  return enc->thread_level_ > 0 && enc->mb_w_ >= 8 && enc->mb_h_ >= 2 &&
         enc->mb_w_ * enc->mb_h_ >= 256 &&
         !enc->do_search_ && enc->config_->pass == 1 &&
         pic->progress_hook == NULL && pic->stats == NULL &&
         pic->extra_info == NULL && !enc->config_->show_compressed &&
         enc->lf_stats_ == NULL;
}

// Starts 'second' running CodeRows(rows), on any core this thread may use but
// the one it is on (on Linux). After the machine had idled, Linux on a 2-vCPU
// KVM guest put a new thread on its creator's core, and the two took turns
// there while the other core idled.
static int StartSecondThread(pthread_t* const second,
                             TwoThreadRows* const rows) {
  pthread_attr_t attr;
  int started;
  if (pthread_attr_init(&attr) != 0) return 0;
#if defined(__linux__)
  {
    cpu_set_t cores;
    const int here = sched_getcpu();
    if (here >= 0 && here < CPU_SETSIZE &&
        sched_getaffinity(0, sizeof(cores), &cores) == 0 &&
        CPU_ISSET(here, &cores) && CPU_COUNT(&cores) >= 2) {
      CPU_CLR(here, &cores);
      pthread_attr_setaffinity_np(&attr, sizeof(cores), &cores);
    }
  }
#endif
  started = (pthread_create(second, &attr, CodeRows, rows) == 0);
  pthread_attr_destroy(&attr);
  return started;
}

static void FreeRowTokens(VP8TBuffer** const rows, int mb_h) {
  if (*rows != NULL) {
    int y;
    for (y = 0; y < mb_h; ++y) VP8TBufferClear(&(*rows)[y]);
    WebPSafeFree(*rows);
    *rows = NULL;
  }
}

// One token pass on two threads, its tokens in '*rows' (one buffer per row).
// Returns 1 on success, 0 on error (out of memory), -1 if no thread could be
// started: nothing was coded then.
static int TwoThreadTokenPass(VP8Encoder* const enc, VP8RDLevel rd_opt,
                              int max_count, VP8TBuffer** const rows,
                              uint64_t* const size_p0,
                              uint64_t* const distortion) {
  const int mb_w = enc->mb_w_, mb_h = enc->mb_h_;
  const float scale = 1.f + enc->config_->quality * 5.f / 100.f;
  TwoThreadPass pass;
  TwoThreadRows* threads;
  pthread_t second;
  int y, ok;

  memset(&pass, 0, sizeof(pass));
  pass.enc = enc;
  pass.rd_opt = rd_opt;
  pass.max_count = max_count;
  *rows = (VP8TBuffer*)WebPSafeCalloc((uint64_t)mb_h, sizeof(**rows));
  pass.mb_end = (size_t*)WebPSafeCalloc((uint64_t)mb_w * mb_h,
                                        sizeof(*pass.mb_end));
  pass.done = (int*)WebPSafeCalloc((uint64_t)mb_h * DONE_STRIDE,
                                    sizeof(*pass.done));
  threads = (TwoThreadRows*)WebPSafeCalloc(2ULL, sizeof(*threads));
  if (*rows == NULL || pass.mb_end == NULL || pass.done == NULL ||
      threads == NULL) {
    WebPSafeFree(*rows);
    *rows = NULL;
    WebPSafeFree(pass.mb_end);
    WebPSafeFree(pass.done);
    WebPSafeFree(threads);
    return WebPEncodingSetError(enc->pic_, VP8_ENC_ERROR_OUT_OF_MEMORY);
  }
  pass.rows = *rows;
  for (y = 0; y < mb_h; ++y) {
    // as the encoder's buffer for the whole picture, a row's worth
    VP8TBufferInit(&(*rows)[y], (int)(mb_w * 4 * scale));
  }
  pthread_mutex_init(&pass.lock, NULL);
  pthread_cond_init(&pass.wake, NULL);
  pthread_mutex_init(&pass.stats_lock, NULL);
  for (y = 0; y < 2; ++y) {
    threads[y].pass = &pass;
    threads[y].first_row = y;
    // before either thread starts: this clears the shared top samples
    VP8IteratorInit(enc, &threads[y].it);
  }

  ok = StartSecondThread(&second, &threads[1]);
  if (ok) {
    CodeRows(&threads[0]);
    pthread_join(second, NULL);
    pthread_mutex_lock(&pass.stats_lock);
    AddFinishedRows(&pass);
    pthread_mutex_unlock(&pass.stats_lock);
    *size_p0 += threads[0].size_p0 + threads[1].size_p0;
    *distortion += threads[0].distortion + threads[1].distortion;
    if (pass.failed) {
      ok = WebPEncodingSetError(enc->pic_, VP8_ENC_ERROR_OUT_OF_MEMORY);
    } else {
      assert(pass.stats_row == mb_h);
    }
  } else {
    FreeRowTokens(rows, mb_h);
    ok = -1;
  }
  pthread_mutex_destroy(&pass.stats_lock);
  pthread_cond_destroy(&pass.wake);
  pthread_mutex_destroy(&pass.lock);
  WebPSafeFree(threads);
  WebPSafeFree(pass.done);
  WebPSafeFree(pass.mb_end);
  return ok;
}

#endif  // WEBP_TWO_THREAD_TOKEN_LOOP

int VP8EncTokenLoop(VP8Encoder* const enc) {
  // Roughly refresh the proba eight times per pass
  int max_count = (enc->mb_w_ * enc->mb_h_) >> 3;
  int num_pass_left = enc->config_->pass;
  int remaining_progress = 40;  // percents
  const int do_search = enc->do_search_;
  VP8EncIterator it;
  VP8EncProba* const proba = &enc->proba_;
  const VP8RDLevel rd_opt = enc->rd_opt_level_;
  const uint64_t pixel_count = enc->mb_w_ * enc->mb_h_ * 384;
  PassStats stats;
  int ok;
#if WEBP_TWO_THREAD_TOKEN_LOOP
  VP8TBuffer* rows = NULL;   // the tokens of a pass on two threads, by row
#endif

  InitPassStats(enc, &stats);
  ok = PreLoopInitialize(enc);
  if (!ok) return 0;

  if (max_count < MIN_COUNT) max_count = MIN_COUNT;

  assert(enc->num_parts_ == 1);
  assert(enc->use_tokens_);
  assert(proba->use_skip_proba_ == 0);
  assert(rd_opt >= RD_OPT_BASIC);   // otherwise, token-buffer won't be useful
  assert(num_pass_left > 0);

  while (ok && num_pass_left-- > 0) {
    const int is_last_pass = (fabs(stats.dq) <= DQ_LIMIT) ||
                             (num_pass_left == 0) ||
                             (enc->max_i4_header_bits_ == 0);
    uint64_t size_p0 = 0;
    uint64_t distortion = 0;
    int cnt = max_count;
    int coded = -1;   // whether the pass was coded on two threads, see below
    // The final number of passes is not trivial to know in advance.
    const int pass_progress = remaining_progress / (2 + num_pass_left);
    remaining_progress -= pass_progress;
    VP8IteratorInit(enc, &it);
    SetLoopParams(enc, stats.q);
    if (is_last_pass) {
      ResetTokenStats(enc);
      VP8InitFilter(&it);  // don't collect stats until last pass (too costly)
    }
    VP8TBufferClear(&enc->tokens_);
#if WEBP_TWO_THREAD_TOKEN_LOOP
    FreeRowTokens(&rows, enc->mb_h_);
    if (is_last_pass && UseTwoThreads(enc)) {
      coded = TwoThreadTokenPass(enc, rd_opt, max_count, &rows, &size_p0,
                                 &distortion);
      if (coded == 0) {
        ok = 0;
        break;
      }
    }
#endif
    if (coded < 0) {   // one thread
      do {
        VP8ModeScore info;
        VP8IteratorImport(&it, NULL);
        if (--cnt < 0) {
          FinalizeTokenProbas(proba);
          VP8CalculateLevelCosts(proba);  // refresh cost tables for rd-opt
          cnt = max_count;
        }
        VP8Decimate(&it, &info, rd_opt);
        ok = RecordTokens(&it, &info, &enc->tokens_, NULL);
        if (!ok) {
          WebPEncodingSetError(enc->pic_, VP8_ENC_ERROR_OUT_OF_MEMORY);
          break;
        }
        size_p0 += info.H;
        distortion += info.D;
        if (is_last_pass) {
          StoreSideInfo(&it);
          VP8StoreFilterStats(&it);
          VP8IteratorExport(&it);
          ok = VP8IteratorProgress(&it, pass_progress);
        }
        VP8IteratorSaveBoundary(&it);
      } while (ok && VP8IteratorNext(&it));
    }
    if (!ok) break;

    size_p0 += enc->segment_hdr_.size_;
    if (stats.do_size_search) {
      uint64_t size = FinalizeTokenProbas(&enc->proba_);
      size += VP8EstimateTokenSize(&enc->tokens_,
                                   (const uint8_t*)proba->coeffs_);
      size = (size + size_p0 + 1024) >> 11;  // -> size in bytes
      size += HEADER_SIZE_ESTIMATE;
      stats.value = (double)size;
    } else {  // compute and store PSNR
      stats.value = GetPSNR(distortion, pixel_count);
    }

#if (DEBUG_SEARCH > 0)
    printf("#%2d metric:%.1lf -> %.1lf   last_q=%.2lf q=%.2lf dq=%.2lf "
           " range:[%.1f, %.1f]\n",
           num_pass_left, stats.last_value, stats.value,
           stats.last_q, stats.q, stats.dq, stats.qmin, stats.qmax);
#endif
    if (enc->max_i4_header_bits_ > 0 && size_p0 > PARTITION0_SIZE_LIMIT) {
      ++num_pass_left;
      enc->max_i4_header_bits_ >>= 1;  // strengthen header bit limitation...
      if (is_last_pass) {
        ResetSideInfo(&it);
      }
      continue;                        // ...and start over
    }
    if (is_last_pass) {
      break;   // done
    }
    if (do_search) {
      ComputeNextQ(&stats);  // Adjust q
    }
  }
  if (ok) {
    if (!stats.do_size_search) {
      FinalizeTokenProbas(&enc->proba_);
    }
    ok = VP8EmitTokens(&enc->tokens_, enc->parts_ + 0,
                       (const uint8_t*)proba->coeffs_, 1);
#if WEBP_TWO_THREAD_TOKEN_LOOP
    if (rows != NULL) {
      int y;
      for (y = 0; ok && y < enc->mb_h_; ++y) {
        ok = VP8EmitTokens(&rows[y], enc->parts_ + 0,
                           (const uint8_t*)proba->coeffs_, 1);
      }
    }
#endif
  }
#if WEBP_TWO_THREAD_TOKEN_LOOP
  FreeRowTokens(&rows, enc->mb_h_);
#endif
  ok = ok && WebPReportProgress(enc->pic_, enc->percent_ + remaining_progress,
                                &enc->percent_);
  return PostLoopFinalize(&it, ok);
}

#else

int VP8EncTokenLoop(VP8Encoder* const enc) {
  (void)enc;
  return 0;   // we shouldn't be here.
}

#endif    // DISABLE_TOKEN_BUFFER

//------------------------------------------------------------------------------
