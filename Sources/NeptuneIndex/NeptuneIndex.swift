// NeptuneIndex
