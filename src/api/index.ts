// fasttts-web: the public API. See README.md ("Library API").
export { createEngine, type CreateEngineOptions } from './create-engine.ts';
export type {
  AnswerSelection, BeamResult, CallOptions, Engine, EngineEvent, EngineInfo, EngineMode, EngineOptions, EngineStats,
  GenerateCallOptions, GenerateOptions, GenerateResult, LoadPhase, LoadProgress, ModelLocation, PlannerChoice, PlannerInputs,
  PlannerPrediction, ScoreAggregation,
  SearchMethod, SolveMetrics, SolveOptions, SolveResult,
} from './types.ts';
export {
  CancelledError, DeviceLostError, FastTTSError, FormatError, NoGpuError, OptionError, OutOfMemoryError,
  PromptTooLongError,
} from '../errors.ts';
