import Experiments
print(BLASRuntime.check())
