"""The one prompt format used at training, sampling and perplexity time.

A model with a chat template (LLaMA-2-chat, the paper's backbone) gets the INPUT as a user
turn and the OUTPUT as the assistant's reply; any other model gets a fixed plain
"### Input / ### Output" layout. Using the same function in all three places is what makes
the DLT perplexities comparable with what the model was trained on.
"""

from __future__ import annotations

from typing import Any

PLAIN = "### Input:\n{input}\n### Output:\n"
#: The text :data:`PLAIN` puts before and after every INPUT (the tiny backbone's tokenizer
#: makes each a single token, as it does the prompt's other fixed phrases).
PLAIN_PHRASES = tuple(PLAIN.split("{input}"))


def prompt_text(tokenizer: Any, instruction: str, template: bool = True) -> str:
    """The text that precedes the OUTPUT (everything the loss is masked on).

    ``template=False`` keeps ``instruction`` as is, for callers whose prompt format is fixed
    by their spec (the LLE metric's "... Answer:" prompts).
    """
    if not template:
        return instruction
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": instruction}], tokenize=False, add_generation_prompt=True
        )
    return PLAIN.format(input=instruction)


def adds_special_tokens(tokenizer: Any, text: str) -> bool:
    """Whether tokenizing the prompt ``text`` should add the tokenizer's special tokens.

    Not when a chat template already wrote the BOS token into it (LLaMA-2-chat's starts with
    ``<s>``): a second BOS would put every prompt off the distribution the model was tuned on.
    """
    bos = getattr(tokenizer, "bos_token", None)
    return not (isinstance(bos, str) and bos and text.startswith(bos))


def encode_pair(
    tokenizer: Any, instruction: str, output: str, max_length: int, template: bool = True
) -> tuple[list[int], list[int]]:
    """Token ids of prompt + output + EOS, and labels with the prompt masked (-100).

    Loss falls only on the OUTPUT tokens and the end-of-sequence token: the neighbour rows
    shown in the prompt are never a training target. When the pair is longer than
    ``max_length``, the prompt is cut from its start (its oldest examples), never the output.
    """
    prompt = prompt_text(tokenizer, instruction, template)
    prompt_ids = tokenizer(prompt, add_special_tokens=adds_special_tokens(tokenizer, prompt))[
        "input_ids"
    ]
    output_ids = tokenizer(output, add_special_tokens=False)["input_ids"]
    output_ids = [*output_ids, tokenizer.eos_token_id]
    room = max_length - len(output_ids)
    if room < 1:
        output_ids = output_ids[: max_length - 1]
        room = 1
    if len(prompt_ids) > room:
        bos = tokenizer.bos_token_id
        head = [bos] if bos is not None and prompt_ids[:1] == [bos] and room > 1 else []
        prompt_ids = head + prompt_ids[len(prompt_ids) - (room - len(head)) :]
    return prompt_ids + output_ids, [-100] * len(prompt_ids) + output_ids
