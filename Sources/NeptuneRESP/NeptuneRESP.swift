// NeptuneRESP
