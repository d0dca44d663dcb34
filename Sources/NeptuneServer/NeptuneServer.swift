// NeptuneServer
