/*
 * ds_model: the downstream calls' model, one for live and replay.
 *
 * Fed closed seconds (struct ds_second), from the recorder thread during a
 * run and from storage (store_downstream_seconds_each) in replay, so the
 * Downstream screen shows the same numbers both ways. Keeps run totals per
 * operation (with merged HDR histograms for percentiles) and, per step, the
 * MCP requests that ended and the calls, time and new connections
 * attributed to them. Memory grows with the number of operations and steps,
 * never with the run's length. Thread-safe: one writer, any readers.
 */
#ifndef LS_DS_MODEL_H
#define LS_DS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "downstream/downstream.h"
#include "util/lserr.h"

#define DS_MODEL_OPS_MAX 128     /* operations kept apart; later ones are summed as "(other)" */

struct ds_model;

LS_MUST_CHECK ls_err ds_model_open(struct ds_model **out);
void ds_model_close(struct ds_model *m);

/* Adds one closed second (the histograms are merged, nothing of s is kept). */
void ds_model_add_second(struct ds_model *m, const struct ds_second *s);

/* Seconds added so far. */
uint32_t ds_model_seconds(struct ds_model *m);

/* As downstream_snapshot / downstream_step_view (downstream.h). */
size_t ds_model_ops(struct ds_model *m, struct ds_op_view *out, size_t cap);
size_t ds_model_steps(struct ds_model *m, struct ds_step_view *out, size_t cap);

#endif
