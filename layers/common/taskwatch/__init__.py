"""apig-taskwatch: watch Huawei Cloud APIG async import/export tasks to a terminal outcome."""
