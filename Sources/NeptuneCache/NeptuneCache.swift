// NeptuneCache
