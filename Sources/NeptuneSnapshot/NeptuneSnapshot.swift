// NeptuneSnapshot
