"""Developer tools: the terminal chat, the WeChat simulator, the benchmarks."""
