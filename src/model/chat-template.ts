// Chat prompts: the model's own Jinja chat template (tokenizer_config.json `chat_template`, or GGUF
// `tokenizer.chat_template`) rendered with @huggingface/jinja. Models without one get the
// Qwen2.5-Math-Instruct template, whose default system prompt asks for step-by-step reasoning.
import { Template } from '@huggingface/jinja';
import { FormatError } from '../errors.ts';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export const QWEN25_MATH_SYSTEM_PROMPT = 'Please reason step by step, and put your final answer within \\boxed{}.';

/** The chat template of Qwen2.5-Math-1.5B/7B-Instruct (tool-calling branches included). */
export const QWEN25_MATH_CHAT_TEMPLATE = `{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'Please reason step by step, and put your final answer within \\\\boxed{}.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nPlease reason step by step, and put your final answer within \\\\boxed{}.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
`;

/** A parsed chat template; parse errors surface as a FormatError naming the file it came from. */
export class ChatTemplate {
  private readonly template: Template;

  constructor(
    readonly source: string,
    readonly file = 'chat template',
  ) {
    try {
      this.template = new Template(source);
    } catch (e) {
      throw new FormatError(file, `chat template does not parse: ${String((e as Error)?.message ?? e).split('\n')[0]}`);
    }
  }

  render(messages: ChatMessage[], opts: { addGenerationPrompt?: boolean; bosToken?: string; eosToken?: string } = {}): string {
    try {
      return this.template.render({
        messages,
        add_generation_prompt: opts.addGenerationPrompt ?? true,
        bos_token: opts.bosToken ?? '',
        eos_token: opts.eosToken ?? '',
      });
    } catch (e) {
      throw new FormatError(this.file, `chat template failed to render: ${String((e as Error)?.message ?? e).split('\n')[0]}`);
    }
  }
}

/** The messages of a math problem: the user turn only, so the template supplies its default system prompt. */
export function mathProblemMessages(problem: string, systemPrompt?: string): ChatMessage[] {
  return systemPrompt === undefined
    ? [{ role: 'user', content: problem }]
    : [
        { role: 'system', content: systemPrompt },
        { role: 'user', content: problem },
      ];
}
