// Secondary indexes over hashes (RediSearch-compatible FT.*): see DESIGN.md §5.
